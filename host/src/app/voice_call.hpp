// One /v1/voice (and /millis) socket (DESIGN §3): the Millis wire around one AgentCall. It
// reads and checks the client's frames (initiate, ping, the text extension, bounded and
// rate-limited binary audio), hands audio, text and control to the call, and serialises what
// the call raises as Millis JSON and binary frames. Refusals are an `onerror` frame then the
// DESIGN close code. All call logic (turns, speech, barge-in, tools, timers, the end) lives in
// AgentCall (agent_call.hpp), which knows nothing of this socket.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "agent_call.hpp"
#include "parley/host/metrics.hpp"
#include "parley/host/net_types.hpp"
#include "parley/host/speech.hpp"
#include "parley/protocol.hpp"
#include "sessions.hpp"

namespace parley::host {

class VoiceCall final : public SocketHandler,
                        public CallTransport,
                        public std::enable_shared_from_this<VoiceCall> {
 public:
  VoiceCall(boost::asio::io_context& io, SessionService& sessions, Metrics& metrics,
            std::shared_ptr<SocketSink> sink, std::optional<std::string> origin,
            std::string remote, SpeechService* speech = nullptr);
  ~VoiceCall() override;

  // ---- SocketHandler (the socket's side)
  void on_text(std::string_view text) override;
  void on_binary(const std::uint8_t* data, std::size_t size) override;
  void on_idle_timeout() override;
  void on_closed(std::uint16_t code) override;

  // Server shutdown: onsessionended {reason} and close 1001.
  void shut_down(const std::string& reason);
  std::string session_id() const { return call_ ? call_->session_id() : std::string(); }

  // ---- CallTransport (the call's events, as Millis frames)
  void call_ready(const OpenedSession& session) override;
  void call_refused(const Error& error) override;
  void transcript(std::string_view text, bool final) override;
  void response_text(std::string_view text, bool final) override;
  void start_answering() override;
  void audio(std::string frame) override;
  void clear() override;
  void pause() override;
  void unpause() override;
  void function_call(const AgentAction& action) override;
  void session_ended(const std::string& reason) override;
  void call_failed(const Error& error) override;

 private:
  enum class State { awaiting_initiate, opening, live, closed };

  void handle_initiate(InitiateMessage initiate);
  void refuse(CloseCode code, const std::string& error_code, const std::string& message);
  void send(const ServerMessage& message);
  bool take_tokens(double& bucket, double cost);

  boost::asio::io_context& io_;
  SessionService& sessions_;
  Metrics& metrics_;
  std::shared_ptr<SocketSink> sink_;
  std::optional<std::string> origin_;
  std::string remote_;
  SpeechService* speech_service_ = nullptr;
  State state_ = State::awaiting_initiate;
  std::shared_ptr<AgentCall> call_;
  bool asked_continuation_ = false;
  std::string asked_id_;
  std::string end_reason_;

  // Rate limits: token buckets refilled by elapsed steady time.
  double audio_bucket_ = 0;
  double text_bucket_ = 0;
  std::int64_t last_refill_us_ = 0;
};

}  // namespace parley::host
