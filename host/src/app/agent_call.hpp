// THE SEAM (DESIGN §2): one call, transport-free. AgentCall holds everything a call is — the
// session it opened, the agent and its Conversation, turns, the speech pipeline (VAD,
// recognition, synthesis, barge-in), tools, timers and the end of the call — and knows no
// wire. A transport (the Millis WebSocket in voice_call.cpp; SIP/RTP next) feeds it audio,
// text and control, and serialises the CallTransport events it raises for its own wire.
//
// A reply is spoken from its first sentence: text pieces go to the transport as they come
// (response_text, not final) and are cut into sentences that are synthesised while the model
// is still writing. Barge-in (the user speaking over the agent, or while it still writes)
// clears the transport's playback, closes the upstream generation at once and leaves in the
// conversation's history only the words the user heard.
//
// Everything runs on the io thread. The transport owns its AgentCall; the call holds the
// transport weakly and never calls it after it is gone.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "../agent/sentence_splitter.hpp"
#include "../speech/speech_channel.hpp"
#include "parley/host/metrics.hpp"
#include "parley/host/speech.hpp"
#include "sessions.hpp"

namespace parley::host {

// Events out of a call. The transport turns each into its wire (Millis JSON frames and
// binary audio; RTP and SIP). None of them may destroy the AgentCall synchronously.
class CallTransport {
 public:
  virtual ~CallTransport() = default;
  // The session is open; the call is live (Millis: onready with its continuation).
  virtual void call_ready(const OpenedSession& session) = 0;
  // The call could not start (error codes of SessionService::open); the transport refuses
  // with its own code and closes. Nothing else follows.
  virtual void call_refused(const Error& error) = 0;
  virtual void transcript(std::string_view text, bool final) = 0;  // the user's words
  // The agent's words: pieces as they come (final false), then the whole reply (final true).
  virtual void response_text(std::string_view text, bool final) = 0;
  virtual void start_answering() = 0;  // a user turn was taken; a reply is coming
  virtual void audio(std::string frame) = 0;  // 20 ms of agent audio, PCM16 LE, 16 kHz
  virtual void clear() = 0;                   // drop the agent audio queued for playback
  // The agent's audio holds (a custom LLM's `pause`): no audio comes until unpause(). A
  // transport whose client queues playback tells it to hold too (Millis: pause/unpause); one
  // that plays as it receives (RTP) has nothing to do, hence the default.
  virtual void pause() {}
  virtual void unpause() {}
  virtual void function_call(const AgentAction& action) = 0;  // a tool ran (with its result)
  // The agent asks to hand the call on to `destination`; `done` gets the outcome once. A
  // transport with no line to transfer (the default: a web call) refuses
  // (transfer_unsupported). A transfer that works ends the call: transport_closed follows
  // with reason "transferred".
  virtual void transfer(const std::string& destination, TransferDone done);
  // The call is over (agent ended it, a timeout): the transport says so and closes.
  virtual void session_ended(const std::string& reason) = 0;
  // Something broke mid-call (e.g. the store failed): the transport closes with an error.
  virtual void call_failed(const Error& error) = 0;
};

class AgentCall final : public SpeechOutput, public std::enable_shared_from_this<AgentCall> {
 public:
  AgentCall(boost::asio::io_context& io, SessionService& sessions, Metrics& metrics,
            SpeechService* speech, std::weak_ptr<CallTransport> transport);
  ~AgentCall() override;
  AgentCall(const AgentCall&) = delete;
  AgentCall& operator=(const AgentCall&) = delete;

  // ---- from the transport
  // Opens (or resumes) the session; then call_ready or call_refused, later.
  void start(OpenRequest request);
  // The user's audio: PCM16 LE mono 16 kHz, an even number of bytes. Dropped before the call
  // is live (clients stream as soon as they connect). A call that cannot hear says so, once.
  void user_audio(const std::uint8_t* data, std::size_t size);
  // A typed user message (a turn, like a recognised utterance).
  void user_text(std::string text);
  // The transport is gone (the user hung up, the connection dropped): the session ends with
  // `reason` (client_ended, connection_lost...). No event follows.
  void transport_closed(const std::string& reason);
  // Server shutdown: session_ended(reason), the session ends. No event follows.
  void shut_down(const std::string& reason);

  bool live() const { return state_ == State::live; }
  const std::string& session_id() const { return record_.id; }
  const AgentConfig* agent() const { return agent_; }

  // ---- SpeechOutput (the speech channel's output, passed on to the transport)
  void transcript(std::string_view text, bool final) override;
  void audio_frame(std::string bytes) override;
  void clear() override;
  void pause() override;
  void unpause() override;

 private:
  enum class State { fresh, opening, live, ending, ended };
  struct Reply;

  void on_opened(Result<OpenedSession> opened);
  void greet(const std::string& greeting);
  // The greeting said (after it is stored, unless the agent opts out of storage).
  void say_greeting(const std::shared_ptr<Reply>& reply, const std::string& greeting);
  void take_turn(std::string text);
  void on_piece(const std::shared_ptr<Reply>& reply, std::string_view piece);
  void on_reply(const std::shared_ptr<Reply>& reply, Result<TurnResult> result);
  void speak(const std::shared_ptr<Reply>& reply, std::string sentence,
             std::uint32_t pause_after_ms = 0);
  // The conversation's events outside turns (a custom LLM's greeting, a late end_call).
  void listen_to(const std::shared_ptr<Conversation>& conversation);
  void agent_says_first(std::string text);
  void say_first(std::string text, std::string line_id);  // once stored (or opted out)
  // A cue in the reply being streamed (custom LLM: flush, pause): what came so far is spoken.
  void on_cue(const std::shared_ptr<Reply>& reply, std::uint32_t pause_ms);
  // The conversation hears when `reply` has been played to its end (custom LLM:
  // playback_finished); at once when the call does not speak.
  void when_played(const std::shared_ptr<Reply>& reply);
  void on_barge_in();
  void after_reply_stored(const std::shared_ptr<Reply>& reply);
  void start_speech();
  void arm_timers();
  void note_activity();
  void end_call(const std::string& reason, const std::string& spoken);
  void finish_end(const std::string& reason);
  void stop_everything();
  std::shared_ptr<CallTransport> transport() const { return transport_.lock(); }

  boost::asio::io_context& io_;
  SessionService& sessions_;
  Metrics& metrics_;
  SpeechService* speech_service_;
  std::weak_ptr<CallTransport> transport_;
  State state_ = State::fresh;
  SessionRecord record_;
  const AgentConfig* agent_ = nullptr;  // the effective agent (agent_config applied)
  std::shared_ptr<const AgentConfig> agent_owner_;
  std::shared_ptr<SpeechChannel> speech_;
  std::weak_ptr<Conversation> conversation_;  // held by the SessionService
  std::shared_ptr<Reply> reply_;  // the latest reply (in flight, or being spoken)
  std::uint64_t replies_ = 0;
  bool told_no_speech_ = false;
  // An agent whose replies stream (an LLM) is spoken sentence by sentence as it writes; the
  // rule responder's reply, which comes whole, is spoken as one text.
  bool stream_speech_ = false;
  bool phone_line_ = false;  // heard with server.speech.phone's settings
  boost::asio::steady_timer idle_timer_;
  boost::asio::steady_timer duration_timer_;
};

}  // namespace parley::host
