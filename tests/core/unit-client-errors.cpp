#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "parley/client_errors.hpp"
#include "parley/json.hpp"

using namespace parley;

TEST_CASE("every client error has its own code and a plain message", "[client-errors]") {
  std::set<std::string_view> codes;
  for (ClientError e : all_client_errors) {
    const auto info = describe(e);
    INFO(info.code);
    CHECK(codes.insert(info.code).second);
    CHECK(info.message.size() > 20);
    CHECK(info.message.back() == '.');
  }
  // The seven the issue names are there, under these exact codes.
  for (const char* code : {"microphone_denied", "no_microphone", "bad_key", "unknown_agent",
                           "origin_not_allowed", "offline", "server_gone"}) {
    INFO(code);
    CHECK(codes.count(code) == 1);
  }
}

TEST_CASE("make_client_error appends the detail, cut and whole UTF-8", "[client-errors]") {
  Error plain = make_client_error(ClientError::bad_key);
  CHECK(plain.code == "bad_key");
  CHECK(plain.message == std::string(describe(ClientError::bad_key).message));
  Error with = make_client_error(ClientError::server_gone, "WebSocket closed with 1006");
  CHECK_THAT(with.message, Catch::EndsWith("again in a moment. (WebSocket closed with 1006)"));
  // 299 ASCII bytes then a 2-byte character straddling the cut: the half is dropped.
  std::string detail(299, 'x');
  detail += "\xC3\xA9";
  detail += std::string(50, 'y');
  Error cut = make_client_error(ClientError::server_error, detail);
  CHECK_THAT(cut.message, Catch::EndsWith(std::string(299, 'x') + "...)"));
  CHECK(is_valid_utf8(cut.message));
}

TEST_CASE("close codes map to the errors a person can act on", "[client-errors]") {
  auto code = [](int close) {
    auto e = client_error_for_close(close);
    return e ? std::string(describe(*e).code) : std::string("none");
  };
  CHECK(code(4401) == "bad_key");
  CHECK(code(4403) == "origin_not_allowed");
  CHECK(code(4404) == "unknown_agent");
  CHECK(code(4400) == "bad_request");
  CHECK(code(4413) == "bad_request");
  CHECK(code(4429) == "rate_limited");
  CHECK(code(4408) == "idle_timeout");
  CHECK(code(1011) == "server_error");
  // Not errors, or reconnected rather than reported.
  CHECK(code(1000) == "none");
  CHECK(code(1001) == "none");
  CHECK(code(1006) == "none");
}

TEST_CASE("getUserMedia's DOMException names map to microphone errors", "[client-errors]") {
  CHECK(client_error_for_media("NotAllowedError") == ClientError::microphone_denied);
  CHECK(client_error_for_media("SecurityError") == ClientError::microphone_denied);
  CHECK(client_error_for_media("PermissionDeniedError") == ClientError::microphone_denied);
  CHECK(client_error_for_media("NotFoundError") == ClientError::no_microphone);
  CHECK(client_error_for_media("OverconstrainedError") == ClientError::no_microphone);
  CHECK(client_error_for_media("DevicesNotFoundError") == ClientError::no_microphone);
  CHECK(client_error_for_media("NotReadableError") == ClientError::microphone_busy);
  CHECK(client_error_for_media("AbortError") == ClientError::microphone_busy);
  CHECK(client_error_for_media("TypeError") == ClientError::unsupported_browser);
  CHECK(client_error_for_media("") == ClientError::unsupported_browser);
}

TEST_CASE("Memori replies map by resultCode first, then HTTP status", "[client-errors]") {
  CHECK(client_error_for_memori(403, -403) == ClientError::origin_not_allowed);
  CHECK(client_error_for_memori(404, -404) == ClientError::unknown_agent);
  CHECK(client_error_for_memori(400, -400) == ClientError::bad_request);
  CHECK(client_error_for_memori(500, -500) == ClientError::server_error);
  CHECK(client_error_for_memori(502, std::nullopt) == ClientError::server_error);
  CHECK_FALSE(client_error_for_memori(410, -103));
  CHECK_FALSE(client_error_for_memori(404, -263));
  CHECK_FALSE(client_error_for_memori(200, 0));
}

TEST_CASE("an unreachable server is offline or gone", "[client-errors]") {
  CHECK(client_error_for_unreachable(false) == ClientError::offline);
  CHECK(client_error_for_unreachable(true) == ClientError::server_gone);
}
