// One /v1/voice socket (DESIGN §3): waits for `initiate`, opens or resumes the session
// through the SessionService, answers `ping` and the `text` extension, accepts and bounds
// binary audio, enforces the agent's session_timeout, and ends the session when the socket
// goes. Refusals are an `onerror` frame then the DESIGN close code.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "parley/host/metrics.hpp"
#include "parley/host/net_types.hpp"
#include "parley/host/speech.hpp"
#include "parley/protocol.hpp"
#include "sessions.hpp"

namespace parley::host {

class SpeechChannel;

class VoiceCall final : public SocketHandler, public std::enable_shared_from_this<VoiceCall> {
 public:
  VoiceCall(boost::asio::io_context& io, SessionService& sessions, Metrics& metrics,
            std::shared_ptr<SocketSink> sink, std::optional<std::string> origin,
            std::string remote, SpeechService* speech = nullptr);
  ~VoiceCall() override;

  void on_text(std::string_view text) override;
  void on_binary(const std::uint8_t* data, std::size_t size) override;
  void on_idle_timeout() override;
  void on_closed(std::uint16_t code) override;

  // Server shutdown: onsessionended {reason} and close 1001.
  void shut_down(const std::string& reason);
  const std::string& session_id() const { return session_id_; }

 private:
  enum class State { awaiting_initiate, opening, live, closed };

  void handle_initiate(InitiateMessage initiate);
  void handle_text(std::string text);
  void refuse(CloseCode code, const std::string& error_code, const std::string& message);
  void send(const ServerMessage& message);
  void end_call(const std::string& reason, const std::string& spoken);
  void arm_timers();
  void note_activity();
  bool take_tokens(double& bucket, double cost);
  // Speech (issue 5): the pipeline is speech/speech_channel; these are the call's hooks.
  void start_speech();
  void speak(const std::string& text, const std::string& line_id);
  void finish_end(const std::string& reason);

  boost::asio::io_context& io_;
  SessionService& sessions_;
  Metrics& metrics_;
  std::shared_ptr<SocketSink> sink_;
  std::optional<std::string> origin_;
  std::string remote_;
  State state_ = State::awaiting_initiate;
  std::string session_id_;
  std::string agent_id_;
  const AgentConfig* agent_ = nullptr;
  SessionRecord record_;
  bool told_no_speech_ = false;
  bool turn_in_flight_ = false;
  bool ended_ = false;
  std::string end_reason_;
  SpeechService* speech_service_ = nullptr;
  std::shared_ptr<SpeechChannel> speech_;
  bool ending_ = false;  // speaking the last words before onsessionended

  // Rate limits: token buckets refilled by elapsed steady time.
  double audio_bucket_ = 0;
  double text_bucket_ = 0;
  std::int64_t last_refill_us_ = 0;

  boost::asio::steady_timer idle_timer_;
  boost::asio::steady_timer duration_timer_;
};

}  // namespace parley::host
