// SipEngine: SIP and RTP for phone calls (DESIGN §11), on libre (Debian's libre-dev 1.1.0:
// SIP user agent, SDP offer/answer, RTP/RTCP, a jitter buffer, RFC 4733 telephone events) and
// librem's G.711 tables. libre runs its own event loop on its own thread; nothing of libre is
// touched from any other thread.
//
// Threads:
// - the SIP thread (libre's re_main): SIP transactions and dialogs, RTP in and out, the jitter
//   buffers, G.711 decoding and 8 kHz -> 16 kHz resampling (the core's Resampler), and one
//   20 ms tick that plays every call's jitter buffer out and sends every call's next packet;
// - the io thread (the caller's): CallEvents arrive there (posted), and every method of
//   SipEngine is called there. Work for the SIP thread goes through one locked queue that
//   wakes libre's loop (an mqueue) only when it was empty.
//
// A peer that misbehaves affects its own call only: malformed SIP is dropped by libre's
// parser, an offer without PCMU/PCMA is refused with 488, RTP from an address other than the
// one the peer's SDP named is dropped and counted, INVITEs beyond a per-address rate get 503.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "parley/host/sip_config.hpp"
#include "parley/result.hpp"

namespace parley::host::sip {

enum class Codec { pcmu, pcma };
const char* codec_name(Codec codec);

// How a call ended, as DESIGN §11 names it.
struct CallEnd {
  // completed (it was answered and then hung up), busy (486/600), no-answer (the ring timeout,
  // or 408/480/487 from the far end), failed (any other refusal: sip_code says which).
  std::string status;
  int sip_code = 0;     // the final SIP response when there was one, else 0
  std::string reason;   // remote_hangup, local_hangup, ring_timeout, media_timeout, shutdown...
};

// What happens to one call, delivered on the io thread, in order. After ended() nothing
// follows.
class CallEvents {
 public:
  virtual ~CallEvents() = default;
  virtual void ringing() {}
  // The call is answered (outbound: 200 OK; inbound: the ACK to our 200) and media flows.
  virtual void answered(Codec codec) = 0;
  virtual void audio(std::string pcm16) = 0;  // the peer's voice: PCM16 LE mono 16 kHz
  virtual void dtmf(char digit) = 0;          // RFC 4733: 0-9 * # A-D
  virtual void ended(const CallEnd& end) = 0;
};

// How a transfer (SIP REFER, RFC 3515) went. `transferred`: the trunk reported the new call
// answered (a final 2xx in its NOTIFY) and this call was hung up (ended() follows with reason
// "transferred"). Otherwise the call goes on and `code` says why:
//   transfer_refused  the REFER itself was refused (sip_code: the trunk's response)
//   transfer_failed   the trunk accepted the REFER but the new call failed (sip_code: from the
//                     NOTIFY's sipfrag), or no final NOTIFY came within kTransferTimeoutS
//   transfer_in_progress  a transfer of this call is already under way
//   transfer_not_live     the call is not answered (or is already over)
struct TransferResult {
  bool transferred = false;
  std::string code;
  int sip_code = 0;
  std::string message;
};

struct OutboundCall {
  std::string from;  // from_phone (the trunk's number)
  std::string to;    // to_phone
  const SipTrunkConfig* trunk = nullptr;  // outlives the engine (the host's config)
  std::string password;                   // read from trunk->password_env by the caller
};

struct InboundCall {
  std::uint64_t id = 0;
  std::string from;  // the caller's number (From user part)
  std::string to;    // the number dialled (Request-URI user part)
  std::string remote;  // the peer's SIP address
};

struct EngineCounters {
  std::atomic<std::uint64_t> rtp_in{0}, rtp_out{0}, rtp_wrong_source{0}, rtp_before_remote{0},
      rtp_late{0}, invites_rate_limited{0}, invites_refused{0}, dtmf{0};
  // How late each RTP packet left after its 20 ms slot (the tick it was due in), as a
  // histogram over kSendLagBounds (seconds; the last bucket is +Inf), and how many left more
  // than kSentLateMs after it: a receiver's jitter buffer of a packet or two absorbs less.
  static constexpr double kSendLagBounds[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1};
  static constexpr std::size_t kSendLagBuckets = sizeof kSendLagBounds / sizeof kSendLagBounds[0] + 1;
  static constexpr std::uint64_t kSentLateMs = 10;
  std::atomic<std::uint64_t> send_lag[kSendLagBuckets]{};  // per bucket, not cumulative
  std::atomic<std::uint64_t> send_lag_us_sum{0}, rtp_sent_late{0};
  // Received packets the jitter buffer dropped: arrived after their turn was played, duplicate,
  // or pushed out when it was full.
  std::atomic<std::uint64_t> rtp_in_dropped{0};
};

class SipEngine {
 public:
  // Called on the io thread for each accepted inbound INVITE (already answered 200 with our
  // SDP). Returns the call's events; nullptr hangs the call up at once.
  using InboundHandler = std::function<std::shared_ptr<CallEvents>(const InboundCall&)>;

  // Binds the SIP listener (UDP and TCP on the same port; port 0 = ephemeral) and starts the
  // SIP thread. `numbers` are the numbers inbound INVITEs may dial (the agents'); others are
  // refused with 404. Error "sip_start" names what failed.
  static Result<std::unique_ptr<SipEngine>> start(boost::asio::io_context& io,
                                                  const SipConfig& config,
                                                  std::vector<std::string> numbers,
                                                  InboundHandler inbound);
  ~SipEngine();  // hangs up every call (BYE / CANCEL), stops the thread
  SipEngine(const SipEngine&) = delete;
  SipEngine& operator=(const SipEngine&) = delete;

  std::uint16_t port() const { return port_; }  // the SIP port bound (UDP and TCP)
  const std::string& address() const { return address_; }

  // Places a call; events follow on `events`. Returns the call's id.
  std::uint64_t call(OutboundCall call, std::weak_ptr<CallEvents> events);
  // 20 ms of our voice, PCM16 LE mono 16 kHz (640 bytes; other even sizes are cut or padded
  // into 20 ms packets). Resampled and encoded here, sent by the SIP thread's tick. At most
  // kMaxQueuedPackets wait; beyond, the oldest are dropped (counted as late).
  void send_audio(std::uint64_t id, const std::string& pcm16);
  void clear_audio(std::uint64_t id);  // barge-in: drop what waits to be sent
  // BYE, or CANCEL while it rings; ended() follows. `after_audio`: once the agent audio
  // already queued has been sent (the agent's last words are heard).
  void hangup(std::uint64_t id, bool after_audio = false);
  // Asks the peer (the trunk) to transfer the call: an in-dialog REFER whose Refer-To is
  // `destination` when it is a sip:/sips: URI, else sip:DESTINATION@ the peer's host (a phone
  // number: + and digits). The trunk's NOTIFYs (message/sipfrag) are followed to the new
  // call's final response. `done` runs once on the io thread. An invalid destination is an
  // error at once ("transfer_bad_destination"), nothing sent.
  Status transfer(std::uint64_t id, const std::string& destination,
                  std::function<void(TransferResult)> done);
  static constexpr int kTransferTimeoutS = 32;
  const EngineCounters& counters() const;

  static constexpr std::size_t kMaxQueuedPackets = 500;  // 10 s

  struct Impl;

 private:
  SipEngine() = default;
  std::shared_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
  std::string address_;
};

}  // namespace parley::host::sip
