// The agent runtime (issue 4): what answers the user. Per session a Conversation: the
// built-in responder (ordered reply rules, tools, fallback) or a custom LLM reached over a
// WebSocket (custom_llm_websocket). Plus the outgoing HTTP the agent needs: tools, the
// prefetch-data webhook, and the durable outbox for end-of-call webhooks.
// All asynchronous on the host's io_context; callbacks run on the io thread, exactly once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "parley/host/config.hpp"
#include "parley/host/http_client.hpp"
#include "parley/host/metrics.hpp"
#include "parley/host/async_store.hpp"
#include "parley/host/store.hpp"
#include "parley/json.hpp"
#include "parley/result.hpp"

namespace parley::host {

// ---- outgoing HTTP: parley/host/http_client.hpp (HttpClient) -----------------------------

// ---- the conversation ------------------------------------------------------------------

// Bounds of the custom LLM link (custom_llm_websocket). Defaults suit production; tests
// shorten them.
struct CustomLlmLimits {
  std::uint32_t connect_timeout_ms = 5000;    // resolve + connect + handshake + start_call
  std::uint32_t turn_timeout_ms = 15000;      // stream_request to end_of_stream
  std::uint32_t max_message_bytes = 256 * 1024;  // one message from the LLM
  std::uint32_t max_reply_bytes = 64 * 1024;     // one turn's joined text; the rest is cut
};

struct ConversationContext {
  const AgentConfig* agent = nullptr;  // outlives the conversation
  std::string session_id;
  json metadata = json::object();
  json variables = json::object();     // metadata + prefetched data: what templates see
  bool include_metadata_in_prompt = false;
  std::string extra_prompt;            // the extra_prompt_webhook's, appended to the prompt
  // Phone calls: {from, to, direction} and the call's id (a custom LLM's start_call `voip` and
  // `call_sid`, as Millis sends them); null and "" otherwise.
  json voip;
  std::string call_sid;
  // Keeps `agent` alive when it is a call's own (agent_config overrides); null otherwise.
  std::shared_ptr<const AgentConfig> agent_owner;
  std::vector<ChatLine> history;       // earlier lines (continuation), oldest first
  // The stored tool rounds of those sessions, in store order: the OpenAI-compatible LLM puts
  // each after the line it follows (ToolRound::after_line), as it had them live. The others
  // ignore them.
  std::vector<ToolRound> tool_rounds;
  CustomLlmLimits llm_limits;          // used only with custom_llm_websocket
  Metrics* metrics = nullptr;          // LLM counters (may be null); outlives the conversation
};

struct AgentAction {   // a function call the agent made → ai_action to the client
  std::string name;
  json arguments = json::object();
  json result;        // the tool's JSON reply (or null when it failed)
  std::string error;  // "" or why the call failed
};

struct AgentReply {
  std::string text;   // what the agent says (never empty: the fallback at worst)
  std::vector<AgentAction> actions;
  bool fallback = false;   // no rule matched / the LLM failed
  bool end_call = false;   // the custom LLM asked to end the call (its "end_call" message)
  bool interrupted = false;  // interrupt() or a newer turn cut it: `text` is what came so far
  // Custom LLM: the turn's stream id (for playback_finished); -1 for the others.
  std::int64_t stream_id = -1;
};

// What a turn reports while it runs, before its reply: text pieces as the agent produces them
// (joined they are the reply's text) and each tool call once it has its result.
struct TurnHooks {
  TurnHooks() = default;
  TurnHooks(std::nullptr_t) {}  // NOLINT: no hooks
  template <class F, class = std::enable_if_t<std::is_invocable_v<F&, std::string_view> &&
                                              !std::is_same_v<std::decay_t<F>, TurnHooks>>>
  TurnHooks(F text_pieces) : text(std::move(text_pieces)) {}  // NOLINT: text pieces only
  std::function<void(std::string_view)> text;
  std::function<void(const AgentAction&)> action;
  // The piece just passed to `text` carries a cue (custom LLM: `flush` - speak what came so
  // far now, without waiting for the end of a sentence or of the stream; `pause` - this many
  // ms of silence after saying it).
  std::function<void(bool flush, std::uint32_t pause_ms)> cue;
  // OpenAI-compatible LLM: a round of tool calls is complete (every call has its result, or
  // an error when the turn was cut): `messages` are the assistant message with its
  // tool_calls and one tool message per call id, exactly as the conversation keeps them and
  // sends them to the model from now on (each tool result at most kMaxToolResultBytes), for
  // the caller to store (ToolRound). Called before the next request of the turn goes out.
  std::function<void(const json& messages)> tool_round;
};

// A tool's result as the LLM sees it (the `content` of its tool message), live and when the
// conversation is rebuilt from the store: at most this many bytes of the result's JSON text.
// A longer result is cut at a character boundary and ends with a note saying how long it was;
// the client's ai_action still carries the whole result.
constexpr std::size_t kMaxToolResultBytes = 16 * 1024;

// How a transfer the agent asked for went (a custom LLM's transfer_call; on a phone call a
// SIP REFER, DESIGN §11). `transferred`: the call was handed on and ends with reason
// "transferred". Otherwise the call goes on and `code` says why: transfer_unsupported (not a
// phone call), transfer_bad_destination, transfer_refused (the trunk refused the REFER:
// sip_code), transfer_failed (the new call failed: sip_code, or no outcome in time),
// transfer_in_progress, transfer_not_live.
struct TransferOutcome {
  bool transferred = false;
  std::string code;
  int sip_code = 0;
  std::string message;
};
using TransferDone = std::function<void(TransferOutcome)>;

// What a conversation says or asks outside the turn-by-turn replies, for the call to act on.
// Callbacks run on the io thread; none is required.
struct ConversationEvents {
  // The agent's own first words (a custom LLM's stream_response on start_call's stream),
  // whole, once: the call shows and speaks them after the configured first_message, if any.
  std::function<void(std::string text)> greeting;
  // The agent asks to end the call outside a turn (a custom LLM's end_call after its last
  // stream_response): the call ends once what is being said has been said.
  std::function<void()> end_call;
  // The agent asks to transfer the call to `destination` (a phone number or a sip: URI);
  // `done` gets the outcome once, later.
  std::function<void(std::string destination, TransferDone done)> transfer;
};

class Conversation {
 public:
  virtual ~Conversation() = default;
  // Custom LLM: connect and send start_call (bounded by a timeout); built-in: at once.
  // Errors (custom LLM): "llm_bad_url", "llm_connect" (resolve, TCP, TLS or WebSocket
  // handshake), "llm_timeout", "llm_io", "llm_closed" (close() came first). After an error
  // every turn gets the fallback reply; the call can go on.
  virtual void start(std::function<void(Status)> done) = 0;
  // One user turn. Custom LLM: stream_request, collect stream_response until end of stream.
  // OpenAI-compatible LLM: a streamed chat completion (tools run in between). `hooks.text`
  // receives text pieces as they arrive, `hooks.action` each tool call with its result, all
  // before `done`. A turn asked while the custom LLM is still connecting waits for it; a new
  // turn while one is in flight ends that one first (with what it has so far).
  // Protocol: src/agent/CUSTOM_LLM.md.
  virtual void respond(std::string user_text, TurnHooks hooks,
                       std::function<void(AgentReply)> done) = 0;
  // Barge-in: the user heard only `heard` (a prefix of the reply's text, cut at a word) of the
  // reply in flight or of the last one. A reply in flight stops at once (an LLM's HTTP
  // stream is closed, a custom LLM is sent `interrupt`) and its `done` follows with
  // `interrupted` set; the conversation's history keeps `heard` as the agent's words, not the
  // whole reply. Nothing in flight and no reply yet: nothing happens.
  virtual void interrupt(std::string heard) = 0;
  // Ends the conversation; pending callbacks are still called once (with what arrived so
  // far, or the fallback). Dropping the last reference to a custom LLM conversation closes it.
  virtual void close() = 0;
  // The call that listens (one at a time; a later call replaces it, e.g. the same call back
  // after a drop). Something that happened before anyone listened (a greeting, an end_call)
  // is delivered to the first listener. Base: nothing happens outside turns.
  virtual void listen(ConversationEvents events) { (void)events; }
  // The user's speech as it is being recognised (custom LLM: partial_transcript).
  virtual void user_speech(const std::string& text, bool is_final) {
    (void)text;
    (void)is_final;
  }
  // The reply of `stream_id` has been played to the end (custom LLM: playback_finished).
  virtual void playback_finished(std::int64_t stream_id) { (void)stream_id; }
  // The system prompt as assembled for this session (for the debug log and /admin).
  virtual const std::string& system_prompt() const = 0;
  // The conversation's state as plain data (the LLM's message history in OpenAI's shape:
  // [{role, content, tool_calls?, tool_call_id?}]; null for the rule responder), so that it
  // can be stored and a call can go on elsewhere.
  virtual json state() const { return nullptr; }
};

// The OpenAI-compatible conversation when the agent has `llm` (src/agent/openai_llm.cpp),
// the custom LLM link when it has custom_llm_websocket, else the built-in responder:
// the first rule whose words (whole words, ASCII case folded; a non-ASCII byte counts as a
// letter) or pattern (case-insensitive, matched in polynomial time on the first 1 KiB of the
// text; a pattern with a backreference never matches) match answers with its reply template;
// no match → the agent's fallback_reply. A rule with a tool first calls it: string values of
// tool_arguments are templates, then metadata fills parameters named like its keys
// (fill_function_arguments); the reply template sees the tool's JSON reply under `tool.`.
// If the call fails (conversion, network, non-2xx, non-JSON) the action carries the error,
// `fallback` is set and the reply is the template rendered without `tool` when it needs
// nothing of it ({tool.x|fallback} forms), else fallback_reply. Replies never come from
// inside respond(): always later, through the io_context. A null agent gives a conversation
// that only falls back.
std::shared_ptr<Conversation> make_conversation(boost::asio::io_context& io, HttpClient& http,
                                                ConversationContext context);

// The agent's prompt with variables filled as data (fill_prompt_template: no value can start a
// line or a section), then the extra_prompt_webhook's text (as it came, after a blank line)
// and, when asked, the metadata section (append_metadata_to_prompt).
std::string assemble_system_prompt(const AgentConfig& agent, const json& variables,
                                   const json& metadata, bool include_metadata_in_prompt,
                                   const std::string& extra_prompt = {});

// ---- webhooks --------------------------------------------------------------------------

// extra_prompt_webhook (DESIGN §6, Millis's "prefetch data webhook").
struct ExtraPromptRequest {
  std::string session_id;
  std::string agent_id;
  std::string from;  // phone calls: the caller's number; "" otherwise
  std::string to;    // phone calls: the number called; "" otherwise
  json metadata = json::object();
};
struct ExtraPrompt {
  json metadata = json::object();  // merged into the session's (the webhook's values win)
  std::string extra_prompt;        // appended to the system prompt
};
constexpr std::size_t kMaxExtraPromptBytes = 64 * 1024;
// GETs extra_prompt_webhook with session_id, agent_id, from, to and every metadata key in
// the query (a string as it is, an array of strings as the key repeated, other values as JSON
// text; metadata keys named like the four are left out), within the webhook's timeout_ms.
// The reply must be a 2xx JSON object {metadata?: object, extra_prompt?: string (at most
// 64 KiB)}. No webhook configured → an empty ExtraPrompt. Errors (the HttpClient's,
// "extra_prompt_status" for a non-2xx reply, "extra_prompt_bad_reply" naming what is wrong
// with the body) let the call start without it; the caller logs and counts them. `done`
// runs later on the io thread.
void fetch_extra_prompt(HttpClient& http, const AgentConfig& agent, ExtraPromptRequest request,
                        std::function<void(Result<ExtraPrompt>)> done);

// How a session ended, in Millis's words (DESIGN §6): the report's call_status and, for an
// error, its error_message. One table (webhooks.cpp) maps every end reason of this host:
//   client_ended (the client closed the socket) → user-ended
//   agent_ended (the agent hung up: a rule, the custom LLM's end_call) → agent-ended
//   transferred (the agent handed a phone call on: transfer_call, a SIP REFER) → agent-ended
//   max_duration, max_idle (session_timeout), idle_timeout (nothing received) → timeout
//   deleted (DELETE /Session), api_ended → api-ended
//   idle_expired of a REST (Memori) session: the chat is over → chat_completion
//   connection_lost (not back within the grace), server_shutdown, refused:<code> → error
// Anything else is error too, with the reason as the message.
struct CallStatus {
  std::string call_status;
  std::string error_message;  // "" unless call_status is "error"
};
CallStatus call_status_for(const std::string& channel, const std::string& reason);
// Millis's call_status values: user-ended, api-ended, agent-ended, timeout, error,
// voicemail-message, voicemail-hangup, chat_completion (the voicemail ones come with phones).
bool is_call_status(std::string_view value);
std::string call_status_names();  // "user-ended, api-ended, ..."

// The end-of-call report (DESIGN §6), Millis's fields: session_id, call_id (the session id
// for a web call), agent_id, agent_config (`agent_config`, the effective agent without its
// secrets), ts (start, epoch seconds), duration (s), chat (a JSON string of
// [{role: "user"|"assistant", content}]), chars_used (characters the agent said),
// cost_breakdown ([]), function_calls, metadata (final), call_status, error_message (null
// unless an error), voip (null: no phone call), recording (null); and ours: continued_from
// (null or the id), reason (this host's end reason). For an ended session; `lines` are its
// own (empty for a data opt-out session).
json end_of_call_payload(const SessionRecord& session, const std::vector<ChatLine>& lines,
                         const json& agent_config);

// Delivers the outbox: on start and on kick(), and on a timer, sends every due item, marks
// it delivered on 2xx, otherwise reschedules with exponential backoff (1 s, 2 s, 4 s ...
// capped at 5 min, with jitter of ±20 %) until max_attempts. Idempotency-Key header = the
// item's key. Permanent failures give up at once: a bad URL or header, and the replies
// 400, 410, 413, 415 and 422 (the receiver refuses these very bytes; re-sending them cannot
// succeed). Everything else is retried: network errors, timeouts, 3xx, 5xx, 408, 429, and
// also 401/403/404, which are usually a receiver's configuration being fixed. Each request
// has a 10 s timeout. Metrics: webhook_deliveries per 2xx, webhook_failures per failed
// attempt. Looks for due items every base delay (so a retry is late by at most that).
class OutboxDeliverer {
 public:
  // claim_ms: how long a claimed batch is this host's alone (server.outbox_claim_ms; on
  // PostgreSQL only: an SQLite file belongs to one host, which claims for 0 ms).
  OutboxDeliverer(boost::asio::io_context& io, AsyncStore& db, HttpClient& http, Metrics& metrics,
                  std::uint32_t max_attempts,
                  std::uint32_t claim_ms = ServerConfig{}.outbox_claim_ms);
  ~OutboxDeliverer();
  void start();
  void kick();   // something was enqueued: look now
  void stop();   // cancels timers; in-flight requests finish or are abandoned (retried later)
  // For tests: the base delay of the backoff (default 1000 ms).
  void set_base_delay_ms(std::uint32_t ms);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Enqueues `report` (end_of_call_payload) for the agent's session_data_webhook, with
// idempotency key "session_data:<session id>": one report per session id.
Status enqueue_end_of_call(Store& store, const AgentConfig& agent, const SessionRecord& session,
                           const json& report);

}  // namespace parley::host
