// A custom-LLM server written from Millis's documentation (docs.millis.ai, "Custom LLM"), for
// the tests that run it against the real parley-host on loopback (unit-millis-llm.cpp, and
// unit-millis-speech.cpp with speech on): it greets on start_call's stream_id, answers
// stream_request with stream_response (flush, pause), ends the call with end_call after its
// last stream_response, asks for a transfer. Nothing here is taken from the host's own code.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "host_fixture.hpp"
#include "test_http_server.hpp"

namespace parley::test::millis {

using namespace std::chrono_literals;

inline std::string type_of(const json& m) {
  return m.is_object() && m.contains("type") && m["type"].is_string() ? m["type"].get<std::string>()
                                                                       : std::string();
}

// The last user message of a stream_request's transcript.
inline std::string last_user_text(const json& m) {
  const json& transcript = m["data"]["transcript"];
  for (auto it = transcript.rbegin(); it != transcript.rend(); ++it)
    if ((*it)["role"] == "user") return (*it)["content"].get<std::string>();
  return {};
}

inline std::string frame(const char* type, json data) {
  return parley::to_json_text(json{{"type", type}, {"data", std::move(data)}});
}

// Millis's custom LLM, as its docs describe the exchange.
inline std::vector<LlmFrame> millis_llm(const json& m) {
  std::vector<LlmFrame> out;
  const std::string type = type_of(m);
  if (type == "start_call") {
    // "For the first message that your server sends after receiving the start_call event,
    // use the stream_id from the start_call event."
    out.push_back({0, frame("stream_response", {{"stream_id", m["data"]["stream_id"]},
                                                {"content", "Hi, this is your LLM."},
                                                {"end_of_stream", true}})});
    return out;
  }
  if (type != "stream_request") return out;
  const json id = m["data"]["stream_id"];
  const std::string said = last_user_text(m);
  if (said.find("bye") != std::string::npos) {
    out.push_back({0, frame("stream_response",
                            {{"stream_id", id}, {"content", "Goodbye!"}, {"end_of_stream", true}})});
    // end_call after the last stream_response, a little later.
    out.push_back({300, frame("end_call", {{"stream_id", id}})});
  } else if (said.find("transfer") != std::string::npos) {
    out.push_back({0, frame("transfer_call", {{"stream_id", id}, {"destination", "+15550001111"}})});
    out.push_back({0, frame("stream_response",
                            {{"stream_id", id}, {"content", "Staying here."}, {"end_of_stream", true}})});
  } else if (said.find("hello") != std::string::npos || said.find("pause") != std::string::npos) {
    out.push_back({0, frame("stream_response", {{"stream_id", id},
                                                {"content", "First part."},
                                                {"flush", true},
                                                {"pause", 800},
                                                {"end_of_stream", false}})});
    out.push_back({0, frame("stream_response", {{"stream_id", id},
                                                {"content", " Second part."},
                                                {"end_of_stream", true}})});
  } else {
    out.push_back({0, frame("stream_response",
                            {{"stream_id", id}, {"content", "You said: " + said}, {"end_of_stream", true}})});
  }
  return out;
}

inline json llm_config(const std::string& llm_url, const std::string& report_url,
                const std::string& first_message) {
  json config = base_host_config();
  config["agents"].push_back({{"id", "llm"},
                              {"public_keys", {"pk-llm"}},
                              {"allowed_origins", {"http://127.0.0.1:*"}},
                              {"prompt", "You are the {plan|basic} helper."},
                              {"first_message", first_message},
                              {"allow_overrides", {"prompt"}},
                              {"custom_llm_websocket", llm_url},
                              {"session_data_webhook", report_url}});
  return config;
}

inline std::vector<json> of_type(const std::vector<json>& messages, const std::string& type) {
  std::vector<json> out;
  for (const auto& m : messages)
    if (type_of(m) == type) out.push_back(m);
  return out;
}

// Waits until the LLM server has a message of `type` (matching `where`).
inline json wait_message(const TestLlmServer& llm, const std::string& type,
                  std::function<bool(const json&)> where = {}, std::chrono::milliseconds ms = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + ms;
  while (std::chrono::steady_clock::now() < deadline) {
    for (const auto& m : llm.messages())
      if (type_of(m) == type && (!where || where(m))) return m;
    sleep_ms(20);
  }
  FAIL("the LLM got no " << type);
  return nullptr;
}

}  // namespace parley::test::millis
