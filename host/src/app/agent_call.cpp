#include "agent_call.hpp"

#include <algorithm>
#include <utility>

#include "parley/host/ids.hpp"
#include "parley/host/log.hpp"
#include "parley/templates.hpp"

namespace parley::host {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* no_speech_notice =
    "I can read typed messages, but I cannot hear you yet: speech recognition is not enabled "
    "on this host. Please type your message.";

}  // namespace

// One reply of the agent: its text as it arrives, the sentences handed to synthesis, and how
// much of it the user has heard.
struct AgentCall::Reply {
  std::uint64_t id = 0;
  bool greeting = false;       // the call's first words (not the conversation's)
  std::string text;            // everything the agent produced for this turn so far
  SentenceSplitter splitter;
  std::size_t cursor = 0;      // where the next sentence is looked for in `text`
  std::size_t heard_end = 0;   // the user heard text[0, heard_end)
  bool generating = true;      // the conversation is still writing it
  bool cut = false;            // barge-in: nothing more of it is spoken
  std::string line_id;         // its stored chat line, once stored
  std::int64_t stream_id = -1;  // the conversation's id for it (custom LLM); -1: the host's words
  Clock::time_point turn_end{};
  bool awaiting_audio = false;  // for the first-audio metric
  std::string heard() const { return text.substr(0, std::min(heard_end, text.size())); }
};

AgentCall::AgentCall(boost::asio::io_context& io, SessionService& sessions, Metrics& metrics,
                     SpeechService* speech, std::weak_ptr<CallTransport> transport)
    : io_(io),
      sessions_(sessions),
      metrics_(metrics),
      speech_service_(speech),
      transport_(std::move(transport)),
      idle_timer_(io),
      duration_timer_(io) {}

AgentCall::~AgentCall() { stop_everything(); }

void CallTransport::transfer(const std::string& destination, TransferDone done) {
  (void)destination;
  done({false, "transfer_unsupported", 0,
        "this is not a phone call: there is no line to transfer"});
}

void AgentCall::stop_everything() {
  if (speech_) speech_->stop();
  idle_timer_.cancel();
  duration_timer_.cancel();
}

// ---- opening ---------------------------------------------------------------------------------

void AgentCall::start(OpenRequest request) {
  if (state_ != State::fresh) return;
  state_ = State::opening;
  phone_line_ = request.channel == "phone";
  std::weak_ptr<AgentCall> weak = weak_from_this();
  sessions_.open(std::move(request), [weak](Result<OpenedSession> opened) {
    auto self = weak.lock();
    if (!self) return;
    self->on_opened(std::move(opened));
  });
}

void AgentCall::on_opened(Result<OpenedSession> opened) {
  if (state_ != State::opening) {
    // The transport went while the session opened: the session ends at once.
    if (opened) sessions_.end(opened->record.id, "client_ended");
    return;
  }
  auto t = transport();
  if (!opened) {
    state_ = State::ended;
    if (t) t->call_refused(opened.error());
    return;
  }
  OpenedSession& s = *opened;
  record_ = s.record;
  // The effective agent: the configured one with the call's agent_config applied.
  agent_owner_ = s.agent;
  agent_ = agent_owner_.get();
  stream_speech_ = agent_ && (agent_->llm.has_value() || !agent_->custom_llm_websocket.empty());
  state_ = State::live;
  sessions_.attach_call(record_.id);
  ++metrics_.sessions_open;
  if (t) t->call_ready(s);
  if (state_ != State::live) return;
  start_speech();
  const bool speak_first = agent_ && !agent_->flow.user_start_first;
  if (speak_first && !s.greeting.empty()) greet(s.greeting);
  if (state_ != State::live) return;
  // After the first_message: a custom LLM's own greeting follows it.
  listen_to(s.conversation);
  arm_timers();
}

void AgentCall::greet(const std::string& greeting) {
  auto reply = std::make_shared<Reply>();
  reply->id = ++replies_;
  reply->greeting = true;
  reply->generating = false;
  reply->text = greeting;
  if (!record_.opted_out) {
    // Stored before it is said (an acknowledged line survives a crash); the io thread does
    // not wait for the database meanwhile.
    ChatLine line;
    line.timestamp_ms = now_epoch_ms();
    line.inbound = false;
    line.text = greeting;
    std::weak_ptr<AgentCall> weak = weak_from_this();
    sessions_.append_line(record_.id, std::move(line),
                          [weak, reply, greeting](Result<ChatLine> stored) {
                            auto self = weak.lock();
                            if (!self || self->state_ != State::live) return;
                            if (!stored) {
                              if (auto t = self->transport()) t->call_failed(stored.error());
                              return;
                            }
                            reply->line_id = stored->line_id;
                            self->say_greeting(reply, greeting);
                          });
    return;
  }
  say_greeting(reply, greeting);
}

void AgentCall::say_greeting(const std::shared_ptr<Reply>& reply, const std::string& greeting) {
  reply_ = reply;
  if (auto t = transport()) t->response_text(greeting, true);
  speak(reply, greeting);
}

void AgentCall::listen_to(const std::shared_ptr<Conversation>& conversation) {
  conversation_ = conversation;
  if (!conversation) return;
  std::weak_ptr<AgentCall> weak = weak_from_this();
  ConversationEvents events;
  events.greeting = [weak](std::string text) {
    if (auto self = weak.lock()) self->agent_says_first(std::move(text));
  };
  events.end_call = [weak] {
    if (auto self = weak.lock()) self->end_call("agent_ended", "");
  };
  events.transfer = [weak](std::string destination, TransferDone done) {
    auto self = weak.lock();
    auto t = self ? self->transport() : nullptr;
    if (!t || self->state_ != State::live)
      return done({false, "transfer_not_live", 0, "the call is not live (it is ending or over)"});
    t->transfer(destination, std::move(done));
  };
  conversation->listen(std::move(events));
}

// The agent's own first words (a custom LLM's greeting on start_call's stream): stored, shown
// and spoken like a reply of the conversation (a barge-in over it trims what it remembers).
void AgentCall::agent_says_first(std::string text) {
  if (state_ != State::live || text.empty()) return;
  if (record_.opted_out) return say_first(std::move(text), {});
  // Stored before it is shown and said, as the first_message is (in order with it: the same
  // session's writes keep their order); the io thread does not wait for the database.
  ChatLine line;
  line.timestamp_ms = now_epoch_ms();
  line.inbound = false;
  line.text = text;
  std::weak_ptr<AgentCall> weak = weak_from_this();
  sessions_.append_line(record_.id, std::move(line),
                        [weak, text = std::move(text)](Result<ChatLine> stored) mutable {
                          auto self = weak.lock();
                          if (!self || self->state_ != State::live) return;
                          if (!stored) {
                            if (auto t = self->transport()) t->call_failed(stored.error());
                            return;
                          }
                          self->say_first(std::move(text), stored->line_id);
                        });
}

void AgentCall::say_first(std::string text, std::string line_id) {
  if (auto t = transport()) t->response_text(text, true);
  if (state_ != State::live) return;
  // The user spoke first (the greeting ended with their turn): it is shown, not spoken over
  // the reply being written.
  if (reply_ && reply_->generating) return;
  auto reply = std::make_shared<Reply>();
  reply->id = ++replies_;
  reply->generating = false;
  reply->text = text;
  reply->line_id = line_id;
  reply->stream_id = 0;  // start_call's stream
  reply_ = reply;
  speak(reply, std::move(text));
  when_played(reply);
  note_activity();
}

void AgentCall::on_cue(const std::shared_ptr<Reply>& reply, std::uint32_t pause_ms) {
  if (reply->cut || state_ != State::live || !stream_speech_) return;
  if (!speech_ || !speech_->speaks()) return;
  std::string so_far = reply->splitter.finish();
  if (so_far.empty() && pause_ms == 0) return;
  // Nothing left unspoken (the piece ended a sentence): the pause follows what was queued.
  speak(reply, std::move(so_far), pause_ms);
}

void AgentCall::when_played(const std::shared_ptr<Reply>& reply) {
  if (reply->stream_id < 0 || reply->cut) return;
  std::weak_ptr<Conversation> weak = conversation_;
  auto tell = [weak, reply](bool completed) {
    if (!completed || reply->cut) return;
    if (auto conversation = weak.lock()) conversation->playback_finished(reply->stream_id);
  };
  if (!speech_ || !speech_->speaks()) return tell(true);  // shown, nothing to play
  SpeechChannel::SayOptions options;
  options.done = [tell](bool completed, const std::string&) { tell(completed); };
  speech_->say("", std::move(options));  // done when what is queued before it has played
}

// ---- turns -----------------------------------------------------------------------------------

void AgentCall::user_text(std::string text) {
  if (state_ != State::live) return;
  take_turn(std::move(text));
}

void AgentCall::take_turn(std::string text) {
  note_activity();
  if (auto previous = reply_; previous && !previous->cut &&
                              (previous->generating || (speech_ && speech_->talking()))) {
    // A new turn while the agent still writes or speaks (a typed message over its voice):
    // what is playing stops, and the conversation keeps what was heard.
    if (speech_) {
      speech_->cut();
      speech_->hold_floor(false);
    }
    previous->cut = true;
    if (!previous->greeting) {
      if (!speech_ || !speech_->speaks()) previous->heard_end = previous->text.size();
      sessions_.interrupt(record_.id, previous->heard());
    }
  }
  auto reply = std::make_shared<Reply>();
  reply->id = ++replies_;
  reply->turn_end = Clock::now();
  reply->awaiting_audio = speech_ && speech_->speaks();
  reply_ = reply;
  if (auto t = transport()) t->start_answering();
  if (speech_ && speech_->speaks()) speech_->hold_floor(true);
  std::weak_ptr<AgentCall> weak = weak_from_this();
  TurnHooks hooks;
  hooks.text = [weak, reply](std::string_view piece) {
    if (auto self = weak.lock()) self->on_piece(reply, piece);
  };
  hooks.cue = [weak, reply](bool, std::uint32_t pause_ms) {
    // A flush and a pause both speak what came so far, now.
    if (auto self = weak.lock()) self->on_cue(reply, pause_ms);
  };
  hooks.action = [weak](const AgentAction& action) {
    auto self = weak.lock();
    if (!self || (self->state_ != State::live && self->state_ != State::ending)) return;
    if (auto t = self->transport()) t->function_call(action);
  };
  sessions_.turn(record_, std::move(text), std::move(hooks),
                 [weak, reply](Result<TurnResult> result) {
                   if (auto self = weak.lock()) self->on_reply(reply, std::move(result));
                 });
}

void AgentCall::on_piece(const std::shared_ptr<Reply>& reply, std::string_view piece) {
  if (state_ != State::live && state_ != State::ending) return;
  if (piece.empty()) return;
  reply->text.append(piece);
  if (auto t = transport()) t->response_text(piece, false);
  if (reply->cut || state_ != State::live || !stream_speech_) return;
  for (auto& sentence : reply->splitter.feed(piece)) speak(reply, std::move(sentence));
}

void AgentCall::speak(const std::shared_ptr<Reply>& reply, std::string sentence,
                      std::uint32_t pause_after_ms) {
  std::size_t start = sentence.empty() ? reply->cursor : reply->text.find(sentence, reply->cursor);
  if (start == std::string::npos) start = reply->cursor;
  const std::size_t end = std::min(reply->text.size(), start + sentence.size());
  reply->cursor = end;
  if (!speech_ || !speech_->speaks()) {
    reply->heard_end = std::max(reply->heard_end, end);  // shown, so read: heard
    return;
  }
  SpeechChannel::SayOptions options;
  options.interruptible = true;
  options.pause_after_ms = pause_after_ms;
  options.done = [reply, start](bool, const std::string& heard) {
    if (heard.empty()) return;
    reply->heard_end = std::max(reply->heard_end, start + heard.size());
  };
  speech_->say(std::move(sentence), std::move(options));
}

void AgentCall::on_reply(const std::shared_ptr<Reply>& reply, Result<TurnResult> result) {
  reply->generating = false;
  if (state_ != State::live && state_ != State::ending) return;
  auto t = transport();
  if (!result) {
    if (t) t->call_failed(result.error());
    return;
  }
  if (reply == reply_ && speech_) speech_->hold_floor(false);
  if (!reply->cut && state_ == State::live) {
    if (reply->text.empty()) {
      reply->text = result->reply.text;  // a reply that came without pieces
      reply->cursor = 0;
    }
    std::string rest = stream_speech_ ? reply->splitter.finish() : reply->text;
    if (stream_speech_ && reply->cursor == 0 && rest.empty()) rest = reply->text;
    while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\n')) rest.pop_back();
    std::size_t lead = 0;
    while (lead < rest.size() && (rest[lead] == ' ' || rest[lead] == '\n')) ++lead;
    if (lead < rest.size()) speak(reply, rest.substr(lead));
  }
  reply->line_id = result->agent_line.line_id;
  reply->stream_id = result->reply.stream_id;
  if (reply->cut) after_reply_stored(reply);
  if (t) t->response_text(result->reply.text, true);
  if (state_ != State::live) return;
  when_played(reply);
  if (result->reply.end_call) return end_call("agent_ended", "");
  note_activity();
}

// The line of a reply the user cut: flagged, and emptied when the agent keeps no cut messages.
void AgentCall::after_reply_stored(const std::shared_ptr<Reply>& reply) {
  if (reply->line_id.empty() || !agent_) return;
  sessions_.mark_interrupted(record_.id, reply->line_id, agent_->flow.keep_interruption_message);
}

void AgentCall::on_barge_in() {
  auto reply = reply_;
  if (speech_) speech_->hold_floor(false);
  if (!reply || reply->cut) return;
  reply->cut = true;
  // The upstream generation stops now; the conversation keeps only what was heard.
  if (!reply->greeting) sessions_.interrupt(record_.id, reply->heard());
  if (!reply->generating) after_reply_stored(reply);  // else when its line is stored
}

// ---- speech ----------------------------------------------------------------------------------

void AgentCall::user_audio(const std::uint8_t* data, std::size_t size) {
  if (state_ != State::live && state_ != State::ending) return;
  if (speech_ && speech_->hears()) return speech_->on_audio(data, size);
  if (told_no_speech_ || state_ != State::live) return;
  told_no_speech_ = true;
  std::string notice = no_speech_notice;
  if (speech_service_ && speech_service_->config().enabled && agent_) {
    notice = "I can read typed messages, but I cannot hear you: " +
             speech_service_->hearing_problem(*agent_) + ". Please type your message.";
  }
  auto reply = std::make_shared<Reply>();
  reply->id = ++replies_;
  reply->greeting = true;  // not the conversation's words
  reply->generating = false;
  reply->text = notice;
  if (auto t = transport()) t->response_text(notice, true);
  speak(reply, notice);
}

void AgentCall::start_speech() {
  if (!speech_service_ || !agent_ || !speech_service_->config().enabled) return;
  SpeechChannel::Events events;
  std::weak_ptr<AgentCall> weak = weak_from_this();
  events.user_turn = [weak](std::string text) {
    auto self = weak.lock();
    if (self && log_enabled(LogLevel::debug)) {
      log_event(LogLevel::debug, "call.voice_turn", "session=" + short_id(self->record_.id));
    }
    if (self && self->state_ == State::live) self->take_turn(std::move(text));
  };
  events.barge_in = [weak] {
    if (auto self = weak.lock()) self->on_barge_in();
  };
  events.activity = [weak] {
    if (auto self = weak.lock()) self->note_activity();
  };
  std::weak_ptr<SpeechOutput> output = std::static_pointer_cast<SpeechOutput>(shared_from_this());
  const SpeechConfig& config = speech_service_->config();
  speech_ = std::make_shared<SpeechChannel>(*speech_service_, *agent_,
                                            phone_line_ ? config.phone : config.browser, output,
                                            std::move(events));
}

void AgentCall::transcript(std::string_view text, bool final) {
  if (state_ != State::live) return;
  if (auto t = transport()) t->transcript(text, final);
  // A custom LLM hears the user's words as they are recognised (partial_transcript).
  if (auto conversation = conversation_.lock()) conversation->user_speech(std::string(text), final);
}

void AgentCall::audio_frame(std::string bytes) {
  if (auto reply = reply_; reply && reply->awaiting_audio) {
    reply->awaiting_audio = false;
    metrics_.first_audio.observe_us(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - reply->turn_end)
            .count()));
  }
  if (auto t = transport()) t->audio(std::move(bytes));
}

void AgentCall::clear() {
  if (auto t = transport()) t->clear();
}

void AgentCall::pause() {
  if (auto t = transport()) t->pause();
}

void AgentCall::unpause() {
  if (auto t = transport()) t->unpause();
}

// ---- time and the end ------------------------------------------------------------------------

void AgentCall::arm_timers() {
  if (!agent_) return;
  std::weak_ptr<AgentCall> weak = weak_from_this();
  if (agent_->session_timeout.max_duration_s > 0) {
    duration_timer_.expires_after(std::chrono::seconds(agent_->session_timeout.max_duration_s));
    duration_timer_.async_wait([weak](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      self->end_call("max_duration", self->agent_->session_timeout.message);
    });
  }
  note_activity();
}

void AgentCall::note_activity() {
  if (!agent_ || agent_->session_timeout.max_idle_s == 0 || state_ != State::live) return;
  idle_timer_.expires_after(std::chrono::seconds(agent_->session_timeout.max_idle_s));
  std::weak_ptr<AgentCall> weak = weak_from_this();
  idle_timer_.async_wait([weak](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    self->end_call("max_idle", self->agent_->session_timeout.message);
  });
}

void AgentCall::end_call(const std::string& reason, const std::string& spoken) {
  if (state_ != State::live) return;
  std::string text;
  if (!spoken.empty()) {
    text = fill_template(spoken, record_.variables).text;
    if (!record_.opted_out) {
      ChatLine line;
      line.timestamp_ms = now_epoch_ms();
      line.inbound = false;
      line.text = text;
      // In order with the session's other writes, before its end and report (same key).
      sessions_.append_line(record_.id, std::move(line), [](Result<ChatLine>) {});
    }
    if (auto t = transport()) t->response_text(text, true);
  }
  if (state_ != State::live) return;
  if (speech_ && speech_->speaks()) {
    // The last words are spoken (not interruptible) before the call ends. A timeout cuts what
    // was being said; an agent that ends the call lets its reply finish.
    state_ = State::ending;
    if (reason != "agent_ended") speech_->cut();
    speech_->hold_floor(false);
    std::weak_ptr<AgentCall> weak = weak_from_this();
    SpeechChannel::SayOptions options;
    options.interruptible = false;
    options.done = [weak, reason](bool, const std::string&) {
      if (auto self = weak.lock()) self->finish_end(reason);
    };
    speech_->say(text, std::move(options));
    return;
  }
  finish_end(reason);
}

void AgentCall::finish_end(const std::string& reason) {
  if (state_ != State::live && state_ != State::ending) return;
  state_ = State::ending;
  if (auto t = transport()) t->session_ended(reason);
}

void AgentCall::shut_down(const std::string& reason) {
  const bool was_live = state_ == State::live || state_ == State::ending;
  stop_everything();
  if (!was_live) {
    state_ = State::ended;
    return;
  }
  state_ = State::ended;
  if (auto t = transport()) t->session_ended(reason);
  --metrics_.sessions_open;
  sessions_.detach_call(record_.id);
  sessions_.end(record_.id, reason);
}

void AgentCall::transport_closed(const std::string& reason) {
  const bool was_live = state_ == State::live || state_ == State::ending;
  if (state_ == State::ended) return;
  state_ = State::ended;
  stop_everything();
  if (!was_live) return;  // still opening: on_opened ends the session
  --metrics_.sessions_open;
  sessions_.detach_call(record_.id);
  // A dropped connection may be the same call coming back (the SDK reconnects): the session
  // waits for it, and ends (and reports) only if it does not.
  if (reason == "connection_lost") return sessions_.drop(record_.id);
  sessions_.end(record_.id, reason);
}

}  // namespace parley::host
