// The live calls of this host's sessions, and which of them hold their call lease in the
// database (DESIGN §12). One class of bookkeeping, no I/O: SessionService asks the store.
//
// A session's first call takes the lease with a database job whose answer comes later; the
// heartbeat renews every lease this host holds with another job, whose answer also comes
// later. Between the asking and the answer, new calls attach and others end (a burst of 500
// phone calls does both all the time). A renewal's answer can only speak for the calls whose
// take had completed when the renewal was asked, and only while the same call goes on (not
// one that ended and came back): those are the ones `lost` may name.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace parley::host {

class CallLeases {
 public:
  // Session id → attachment number of the call(s) asked about.
  using Snapshot = std::map<std::string, std::uint64_t>;

  // Counts a call of the session. For its first call: the attachment number, for which the
  // caller takes the lease (and reports the take to taken()); otherwise nullopt.
  std::optional<std::uint64_t> attach(const std::string& session_id);
  // The take for `attachment` succeeded: the lease is held from now on (ignored if that
  // attachment has ended meanwhile).
  void taken(const std::string& session_id, std::uint64_t attachment);
  // Counts a call of the session off; true when it was the last (the caller releases).
  bool detach(const std::string& session_id);

  bool live(const std::string& session_id) const { return calls_.count(session_id) > 0; }
  bool empty() const { return calls_.empty(); }

  // What a renewal asked now must find: the live calls whose take has completed.
  Snapshot held() const;
  // Of `asked` (held() when the renewal was asked), the sessions whose call still goes on in
  // the same attachment and that `renewed` (the leases the renewal found) lacks.
  std::vector<std::string> lost(const Snapshot& asked, const std::set<std::string>& renewed) const;

 private:
  struct Call {
    int count = 0;
    std::uint64_t attachment = 0;
    bool leased = false;
  };
  std::map<std::string, Call> calls_;
  std::uint64_t next_attachment_ = 0;
};

}  // namespace parley::host
