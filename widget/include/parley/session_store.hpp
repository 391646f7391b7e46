// The widget's memory of its session, per integration id (DESIGN §5), over an injected
// key-value store: the browser backs it with localStorage, the CLI and the tests with a map.
// The core never touches storage itself.
//
// Layout: one small JSON value per integration id under the key
//   "parley.session"            for the default integration (empty id)
//   "parley.session.<id>"       for integration id <id>
// holding {"v":1,"sessionID":S,"agentID":A,"lastActivity":<epoch ms>,"continuedFrom":S?,
// "identity":F?}, where F is the fingerprint of the identity of the page that opened the session
// (identity.hpp; absent for an anonymous page).
// A stored value that is not exactly that (corrupt, edited, from a future version) is treated
// as absent and reported through StoredSession::problem; it is never a crash, and the next
// save() replaces it.
//
// Validity (the resume window, default 3600 s, configurable): a session is fresh while
//   now - last_activity < window      (strictly: after exactly `window` ms of inactivity it is
//                                      expired, matching "expires after 1 hour of inactivity")
// A last activity in the future by at most max_clock_skew_ms (default 60 s: clocks of tabs
// and devices differ a little) counts as fresh; further in the future it is invalid
// (Freshness::from_future), since it cannot be a real activity time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "parley/result.hpp"

namespace parley {

// Injected storage. Implementations may drop writes (a full or disabled localStorage); the
// session store then simply finds nothing next time.
class KeyValueStore {
 public:
  virtual ~KeyValueStore() = default;
  virtual std::optional<std::string> get(std::string_view key) const = 0;
  virtual void set(std::string_view key, std::string_view value) = 0;
  virtual void remove(std::string_view key) = 0;
};

// In-memory KeyValueStore for tests and native use.
class MapKeyValueStore final : public KeyValueStore {
 public:
  std::optional<std::string> get(std::string_view key) const override;
  void set(std::string_view key, std::string_view value) override;
  void remove(std::string_view key) override;
  const std::map<std::string, std::string, std::less<>>& entries() const { return map_; }

 private:
  std::map<std::string, std::string, std::less<>> map_;
};

// A session id as it may appear in a URL path: 1..128 bytes of [A-Za-z0-9_-] (UUID text is
// the usual form). Anything else from a URL or a server is refused before it reaches a path.
bool is_valid_session_id(std::string_view id) noexcept;

// An integration id: 0..128 bytes of printable ASCII (empty = the default integration).
bool is_valid_integration_id(std::string_view id) noexcept;

struct SessionRecord {
  std::string session_id;
  std::string agent_id;
  std::int64_t last_activity_ms = 0;
  std::optional<std::string> continued_from;  // the session this one continues, if any
  std::string identity;  // identity_fingerprint() of the page that opened it; "" = anonymous

  friend bool operator==(const SessionRecord& a, const SessionRecord& b) {
    return a.session_id == b.session_id && a.agent_id == b.agent_id &&
           a.last_activity_ms == b.last_activity_ms && a.continued_from == b.continued_from &&
           a.identity == b.identity;
  }
};

// What load() found: a record, nothing, or a problem (then no record).
struct StoredSession {
  std::optional<SessionRecord> record;
  std::optional<Error> problem;  // session_store_corrupt, session_store_bad_integration_id
};

struct ResumeWindow {
  static constexpr std::int64_t default_window_ms = 3'600'000;
  static constexpr std::int64_t max_window_ms = 366LL * 24 * 3'600'000;  // a year and a day

  std::int64_t window_ms = default_window_ms;  // 1..max_window_ms
  std::int64_t max_clock_skew_ms = 60'000;     // 0..window_ms
};

// Error code resume_window_invalid naming the field and its allowed range.
Status validate_resume_window(const ResumeWindow& window);

enum class Freshness { fresh, expired, from_future };
const char* to_string(Freshness f) noexcept;

// Classifies a last-activity time against `now` (both epoch ms). Never overflows, whatever
// the inputs.
Freshness check_freshness(std::int64_t last_activity_ms, std::int64_t now_ms,
                          const ResumeWindow& window) noexcept;

class SessionStore {
 public:
  static constexpr std::size_t max_stored_bytes = 4096;  // larger stored values are corrupt

  explicit SessionStore(KeyValueStore& kv) : kv_(kv) {}

  static std::string key_for(std::string_view integration_id);

  StoredSession load(std::string_view integration_id) const;

  // Validates and writes the record. Errors (nothing written): session_store_bad_integration_id,
  // session_store_bad_record (names the field).
  Status save(std::string_view integration_id, const SessionRecord& record);

  // Activity now: sets last_activity to now_ms. Error session_store_no_session when nothing
  // (valid) is stored for the integration.
  Status touch(std::string_view integration_id, std::int64_t now_ms);

  void forget(std::string_view integration_id);

  // The stored text of a record, and back (exposed for tests and tools).
  static std::string encode(const SessionRecord& record);
  static Result<SessionRecord> decode(std::string_view text);

 private:
  KeyValueStore& kv_;
};

}  // namespace parley
