#include "millis_api.hpp"

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>

#include <boost/url/parse_query.hpp>

#include "parley/host/agent.hpp"
#include "parley/host/log.hpp"

namespace parley::host {
namespace {

constexpr std::string_view kList = "/call-logs";
constexpr std::string_view kOnePrefix = "/call-logs/";
constexpr std::uint32_t kMaxLimit = 100;
constexpr std::size_t kMaxQueryValueBytes = 256;

HttpResponse json_reply(unsigned status, const json& body) {
  HttpResponse response;
  response.status = status;
  response.body = to_json_text(body);
  response.headers.emplace_back("Cache-Control", "no-store");  // call logs are personal data
  return response;
}

HttpResponse error_reply(unsigned status, const std::string& code, const std::string& message) {
  return json_reply(status, json{{"error", {{"code", code}, {"message", message}}}});
}

// A store failure: 503 while the database is away or busy (try again), else 500.
HttpResponse db_error_reply(const Error& error, const std::string& what) {
  if (error.code == "db_unavailable" || error.code == "db_busy" || error.code == "db_closed")
    return error_reply(503, error.code, error.message);
  return error_reply(500, "internal", what);
}

// The query's parameters, percent-decoded; an Error names a malformed or repeated one.
Result<std::map<std::string, std::string>> read_query(std::string_view query) {
  std::map<std::string, std::string> out;
  if (query.empty()) return out;
  auto params = boost::urls::parse_query(query);
  if (!params) return make_error("bad_request", "the query string is malformed");
  for (const auto& param : *params) {
    std::string key = param.key.decode();
    if (key.size() > 64) return make_error("bad_request", "a query parameter name is too long");
    std::string value = param.has_value ? param.value.decode() : std::string();
    if (value.size() > kMaxQueryValueBytes)
      return make_error("bad_request", key + ": over " + std::to_string(kMaxQueryValueBytes) +
                                           " bytes");
    if (!out.emplace(key, std::move(value)).second)
      return make_error("bad_request", key + ": given more than once");
  }
  return out;
}

// A number of epoch seconds (a fraction allowed), as epoch ms.
Result<std::optional<std::int64_t>> epoch_seconds(const std::map<std::string, std::string>& q,
                                                  const char* name) {
  auto it = q.find(name);
  if (it == q.end() || it->second.empty() || it->second == "null")
    return std::optional<std::int64_t>();
  const std::string& text = it->second;
  char* end = nullptr;
  const double seconds = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(seconds) || seconds < 0 ||
      seconds > 1e11)
    return make_error("bad_request", std::string(name) + ": \"" + text +
                                         "\" is not a time in epoch seconds (e.g. 1733540000.5)");
  return std::optional<std::int64_t>(static_cast<std::int64_t>(std::llround(seconds * 1000)));
}

}  // namespace

MillisApi::MillisApi(SessionService& sessions, Metrics& metrics)
    : sessions_(sessions), metrics_(metrics), keys_(sessions.config().server.api_keys) {}

bool MillisApi::serves(std::string_view path) {
  return path == kList || path.substr(0, kOnePrefix.size()) == kOnePrefix;
}

void MillisApi::handle(const HttpRequest& request, HttpDone done) {
  if (auto allowed = keys_.check(request); !allowed) {
    metrics_.error("api_key_refused");
    return done(error_reply(401, allowed.error().code, allowed.error().message));
  }
  if (request.method != "GET")
    return done(error_reply(405, "method_not_allowed",
                            request.method.substr(0, 16) + " " + std::string(kList) +
                                ": only GET is served"));
  if (request.path == kList) return list(request, done);
  const std::string id = request.path.substr(kOnePrefix.size());
  if (id.empty() || id.find('/') != std::string::npos)
    return done(error_reply(404, "not_found", "no such route: GET /call-logs/{session_id}"));
  one(id, done);
}

void MillisApi::list(const HttpRequest& request, HttpDone& done) {
  auto q = read_query(request.query);
  if (!q) return done(error_reply(400, q.error().code, q.error().message));
  CallLogQuery query;
  if (auto it = q->find("limit"); it != q->end() && !it->second.empty()) {
    const std::string& text = it->second;
    char* end = nullptr;
    const long limit = std::strtol(text.c_str(), &end, 10);
    if (end != text.c_str() + text.size() || limit < 1 || limit > static_cast<long>(kMaxLimit))
      return done(error_reply(400, "bad_request",
                              "limit: \"" + text + "\" must be a whole number from 1 to " +
                                  std::to_string(kMaxLimit)));
    query.limit = static_cast<std::uint32_t>(limit);
  }
  for (auto [name, target] : {std::pair<const char*, std::optional<std::int64_t>*>{
                                  "start_after_ts", &query.created_before_ms},
                              {"start_time", &query.created_from_ms},
                              {"end_time", &query.created_to_ms}}) {
    auto ms = epoch_seconds(*q, name);
    if (!ms) return done(error_reply(400, ms.error().code, ms.error().message));
    *target = *ms;
  }
  if (auto it = q->find("agent_id"); it != q->end() && !it->second.empty())
    query.agent_id = it->second;
  if (auto it = q->find("call_status"); it != q->end() && !it->second.empty()) {
    if (!is_call_status(it->second))
      return done(error_reply(400, "bad_request",
                              "call_status: \"" + it->second + "\" is not one of " +
                                  call_status_names()));
    query.call_status = it->second;
  }
  if (auto it = q->find("phone_number"); it != q->end() && !it->second.empty()) {
    // A phone call from or to this number (voip.from or voip.to). An E.164 number written
    // unencoded in a URL arrives with its '+' decoded as a space: it is read as the '+'.
    std::string number = it->second;
    if (number[0] == ' ') number[0] = '+';
    const std::size_t digits = number.size() - (number[0] == '+' ? 1 : 0);
    if (digits < 1 || digits > 20 ||
        number.find_first_not_of("0123456789", number.size() - digits) != std::string::npos)
      return done(error_reply(400, "bad_request",
                              "phone_number: \"" + it->second +
                                  "\" is not a phone number (E.164: '+' and up to 20 digits)"));
    query.phone_number = std::move(number);
  }
  // Read and built on a database thread (the reports read each session's lines).
  struct Page {
    json histories = json::array();
    std::size_t sessions = 0;
  };
  const SessionService* service = &sessions_;
  sessions_.db().run(
      "",
      [service, query](Store& store) -> Result<Page> {
        auto sessions = store.call_logs(query);
        if (!sessions) return std::move(sessions).error();
        Page page;
        page.sessions = sessions->size();
        for (const auto& session : *sessions) {
          auto log = service->call_log(store, session);
          if (!log) return std::move(log).error();
          page.histories.push_back(std::move(*log));
        }
        return page;
      },
      [limit = query.limit, done = std::move(done)](Result<Page> page) {
        if (!page) {
          log_event(LogLevel::error, "call_logs.failed", page.error().message);
          return done(db_error_reply(page.error(), "the call logs could not be read"));
        }
        json cursor = nullptr;
        if (page->sessions == limit && !page->histories.empty())
          cursor = page->histories.back()["ts"];
        done(json_reply(200, json{{"histories", std::move(page->histories)},
                                  {"next_cursor", cursor}}));
      });
}

void MillisApi::one(const std::string& session_id, HttpDone& done) {
  struct Found {
    bool ended = false;
    json log;
  };
  const SessionService* service = &sessions_;
  sessions_.db().run(
      session_id,
      [service, session_id](Store& store) -> Result<Found> {
        auto found = store.find_session(session_id);
        if (!found) return std::move(found).error();
        Found out;
        if (!found->has_value() || !(*found)->ended_ms) return out;
        auto log = service->call_log(store, **found);
        if (!log) return std::move(log).error();
        out.ended = true;
        out.log = std::move(*log);
        return out;
      },
      [done = std::move(done)](Result<Found> found) {
        if (!found) {
          log_event(LogLevel::error, "call_logs.failed", found.error().message);
          return done(db_error_reply(found.error(), "the call log could not be read"));
        }
        if (!found->ended)
          return done(error_reply(404, "not_found", "no ended call with this session id"));
        done(json_reply(200, found->log));
      });
}

}  // namespace parley::host
