#include "parley/session_store.hpp"

#include <limits>

#include "parley/json.hpp"

namespace parley {
namespace {

constexpr std::string_view key_prefix = "parley.session";
constexpr int record_version = 1;
constexpr std::size_t max_id_bytes = 128;
constexpr std::size_t max_agent_id_bytes = 256;

Error corrupt(const std::string& why) {
  return make_error("session_store_corrupt", "stored session is ignored: " + why);
}

Error bad_record(const std::string& field, const std::string& rule) {
  return make_error("session_store_bad_record", "session record " + field + ": " + rule);
}

Error bad_integration_id(std::string_view id) {
  return make_error("session_store_bad_integration_id",
                    "integration id of " + std::to_string(id.size()) +
                        " bytes is not 0..128 bytes of printable ASCII");
}

Status validate_record(const SessionRecord& r) {
  if (!is_valid_session_id(r.session_id)) {
    return bad_record("sessionID", "must be 1..128 bytes of [A-Za-z0-9_-]");
  }
  if (r.agent_id.empty() || r.agent_id.size() > max_agent_id_bytes || !is_valid_utf8(r.agent_id)) {
    return bad_record("agentID", "must be 1..256 bytes of UTF-8");
  }
  if (r.continued_from && !is_valid_session_id(*r.continued_from)) {
    return bad_record("continuedFrom", "must be 1..128 bytes of [A-Za-z0-9_-]");
  }
  if (r.identity.size() > 64 || !is_valid_session_id(r.identity.empty() ? "0" : r.identity)) {
    return bad_record("identity", "must be 0..64 bytes of [A-Za-z0-9_-]");
  }
  return ok_status();
}

}  // namespace

std::optional<std::string> MapKeyValueStore::get(std::string_view key) const {
  auto it = map_.find(key);
  if (it == map_.end()) return std::nullopt;
  return it->second;
}

void MapKeyValueStore::set(std::string_view key, std::string_view value) {
  map_.insert_or_assign(std::string(key), std::string(value));
}

void MapKeyValueStore::remove(std::string_view key) {
  auto it = map_.find(key);
  if (it != map_.end()) map_.erase(it);
}

bool is_valid_session_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > max_id_bytes) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool is_valid_integration_id(std::string_view id) noexcept {
  if (id.size() > max_id_bytes) return false;
  for (char c : id) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

Status validate_resume_window(const ResumeWindow& w) {
  if (w.window_ms < 1 || w.window_ms > ResumeWindow::max_window_ms) {
    return make_error("resume_window_invalid",
                      "resume window is " + std::to_string(w.window_ms) + " ms; must be 1.." +
                          std::to_string(ResumeWindow::max_window_ms) + " ms");
  }
  if (w.max_clock_skew_ms < 0 || w.max_clock_skew_ms > w.window_ms) {
    return make_error("resume_window_invalid",
                      "max clock skew is " + std::to_string(w.max_clock_skew_ms) +
                          " ms; must be 0..window (" + std::to_string(w.window_ms) + " ms)");
  }
  return ok_status();
}

const char* to_string(Freshness f) noexcept {
  switch (f) {
    case Freshness::fresh: return "fresh";
    case Freshness::expired: return "expired";
    case Freshness::from_future: return "from_future";
  }
  return "unknown";
}

Freshness check_freshness(std::int64_t last_activity_ms, std::int64_t now_ms,
                          const ResumeWindow& window) noexcept {
  // Compare without subtracting two arbitrary int64 values (that can overflow): work in
  // "how far apart" with the sign decided first.
  if (last_activity_ms > now_ms) {
    const auto ahead =
        static_cast<std::uint64_t>(last_activity_ms) - static_cast<std::uint64_t>(now_ms);
    return ahead <= static_cast<std::uint64_t>(window.max_clock_skew_ms) ? Freshness::fresh
                                                                         : Freshness::from_future;
  }
  const auto idle =
      static_cast<std::uint64_t>(now_ms) - static_cast<std::uint64_t>(last_activity_ms);
  return idle < static_cast<std::uint64_t>(window.window_ms) ? Freshness::fresh
                                                             : Freshness::expired;
}

std::string SessionStore::key_for(std::string_view integration_id) {
  std::string key(key_prefix);
  if (!integration_id.empty()) {
    key += '.';
    key += integration_id;
  }
  return key;
}

std::string SessionStore::encode(const SessionRecord& r) {
  json value = {{"v", record_version},
                {"sessionID", r.session_id},
                {"agentID", r.agent_id},
                {"lastActivity", r.last_activity_ms}};
  if (r.continued_from) value["continuedFrom"] = *r.continued_from;
  if (!r.identity.empty()) value["identity"] = r.identity;
  return to_json_text(value);
}

Result<SessionRecord> SessionStore::decode(std::string_view text) {
  if (text.size() > max_stored_bytes) {
    return corrupt("it is " + std::to_string(text.size()) + " bytes, over " +
                   std::to_string(max_stored_bytes));
  }
  auto parsed = parse_json(text, "stored session", 4);
  if (!parsed) return corrupt(parsed.error().message);
  const json& v = *parsed;
  if (!v.is_object())
    return corrupt(std::string("it is a JSON ") + json_type_name(v) + ", not an object");
  auto version = v.find("v");
  if (version == v.end() || !version->is_number_integer() || *version != record_version) {
    return corrupt("\"v\" is not 1");
  }
  auto string_field = [&](const char* name) -> const std::string* {
    auto it = v.find(name);
    return (it != v.end() && it->is_string()) ? it->get_ptr<const std::string*>() : nullptr;
  };
  const std::string* session_id = string_field("sessionID");
  const std::string* agent_id = string_field("agentID");
  if (session_id == nullptr) return corrupt("\"sessionID\" is missing or not a string");
  if (agent_id == nullptr) return corrupt("\"agentID\" is missing or not a string");
  auto last = v.find("lastActivity");
  if (last == v.end() || !last->is_number_integer()) {
    return corrupt("\"lastActivity\" is missing or not an integer");
  }
  SessionRecord r;
  r.session_id = *session_id;
  r.agent_id = *agent_id;
  constexpr auto int64_max = std::numeric_limits<std::int64_t>::max();
  r.last_activity_ms = last->is_number_unsigned() &&
                               last->get<std::uint64_t>() > static_cast<std::uint64_t>(int64_max)
                           ? int64_max
                           : last->get<std::int64_t>();
  if (auto it = v.find("continuedFrom"); it != v.end() && !it->is_null()) {
    if (!it->is_string()) return corrupt("\"continuedFrom\" is not a string");
    r.continued_from = it->get<std::string>();
  }
  if (auto it = v.find("identity"); it != v.end() && !it->is_null()) {
    if (!it->is_string()) return corrupt("\"identity\" is not a string");
    r.identity = it->get<std::string>();
  }
  if (auto valid = validate_record(r); !valid) return corrupt(valid.error().message);
  return r;
}

StoredSession SessionStore::load(std::string_view integration_id) const {
  StoredSession out;
  if (!is_valid_integration_id(integration_id)) {
    out.problem = bad_integration_id(integration_id);
    return out;
  }
  std::optional<std::string> text = kv_.get(key_for(integration_id));
  if (!text) return out;
  auto record = decode(*text);
  if (record) {
    out.record = std::move(*record);
  } else {
    out.problem = std::move(record).error();
  }
  return out;
}

Status SessionStore::save(std::string_view integration_id, const SessionRecord& record) {
  if (!is_valid_integration_id(integration_id)) return bad_integration_id(integration_id);
  if (auto valid = validate_record(record); !valid) return valid;
  kv_.set(key_for(integration_id), encode(record));
  return ok_status();
}

Status SessionStore::touch(std::string_view integration_id, std::int64_t now_ms) {
  StoredSession stored = load(integration_id);
  if (stored.problem) return std::move(*stored.problem);
  if (!stored.record) {
    return make_error("session_store_no_session", "no session is stored for integration \"" +
                                                      std::string(integration_id) + "\"");
  }
  stored.record->last_activity_ms = now_ms;
  return save(integration_id, *stored.record);
}

void SessionStore::forget(std::string_view integration_id) {
  if (!is_valid_integration_id(integration_id)) return;
  kv_.remove(key_for(integration_id));
}

}  // namespace parley
