// Chat history in the Memori engine v2 format (DESIGN §4): ChatLog replies turned into C++
// structs, the agent's last message, and the filters of POST /UserChatLogsByTokenPaged.
//
// The reply of GET /SessionChatLogs is parsed on every page load that restores a
// conversation, so it is read by a purpose-built scanner straight into the structs below
// (no JSON DOM in between). The scanner is a strict JSON parser (RFC 8259: grammar, string
// escapes, UTF-8, no lone surrogates) that also checks the ChatLog schema:
//   reply:  {chatLogs: [ChatLog], count?, totalCount?, requestID?, requestDateTime?,
//            resultCode, resultMessage?}
//   ChatLog: {chatLogID: string, sessionID: string, memoriID?: string, timestamp?: string,
//             lines: [ChatLine]}
//   line:    {timestamp: string, inbound: boolean, text: string, emitter?: string,
//             contextVars?: object}
// Optional fields may also be null. Fields we do not know (media, memoryID, boardOfExperts,
// and whatever the Memori API adds next) are checked as JSON and skipped, never refused.
// A known field given twice is refused (chatlog_duplicate_field): there is no right answer.
// A leading UTF-8 byte order mark is allowed. Numbers in skipped values are checked for
// grammar only (like JSON.parse, 1e400 passes there).
//
// Error codes: chatlog_too_large, chatlog_bad_json, chatlog_wrong_type, chatlog_missing_field,
// chatlog_duplicate_field, chatlog_too_many_logs, chatlog_too_many_lines, chatlog_too_deep,
// memori_result_error (resultCode != 0). Messages name the path, e.g.
// `chatLogs[2].lines[14].inbound: expected a boolean, found string (byte 5121)`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/json.hpp"
#include "parley/result.hpp"

namespace parley {

struct ChatLine {
  std::string timestamp;  // as the server sent it (Memori: UTC ISO 8601)
  bool inbound = false;   // true: the user said it; false: the agent did
  std::string text;
  std::optional<std::string> emitter;  // Board-of-Experts member that answered, if any
  json context_vars;                   // an object, or null when absent
  bool earlier = false;                // from a session this one continues (resume flow)
};

struct ChatLog {
  std::string chat_log_id;
  std::string session_id;
  std::string memori_id;  // empty when absent
  std::string timestamp;  // empty when absent
  std::vector<ChatLine> lines;
};

// The envelope every Memori v2 reply carries.
struct MemoriReplyHeader {
  std::string request_id;
  std::string request_date_time;
  std::int64_t result_code = 0;  // 0 ok; e.g. -103 session expired, -263 not found
  std::string result_message;
};

struct ChatLogsReply {
  MemoriReplyHeader header;
  std::vector<ChatLog> chat_logs;           // in the server's order (oldest first)
  std::size_t line_count = 0;               // lines over all chat logs
  std::optional<std::int64_t> count;        // only in paged replies
  std::optional<std::int64_t> total_count;  // only in paged replies
  // Parley's SessionChatLogs: every line of the chain, also those a ?lastLines=N left out.
  std::optional<std::int64_t> total_lines;
};

// Bounds on what a reply may make us allocate. The defaults fit years of daily chatting.
struct ChatLogLimits {
  std::size_t max_bytes = 32u * 1024 * 1024;  // the reply text
  std::size_t max_logs = 10'000;              // chat logs in one reply
  std::size_t max_lines = 100'000;            // lines over all chat logs
  std::size_t max_depth = 32;                 // nesting inside unknown fields / contextVars
};

// Parses a reply of GET /SessionChatLogs (or any reply holding `chatLogs`). resultCode is
// required; a non-zero one is the Error memori_result_error naming it and resultMessage.
Result<ChatLogsReply> parse_chat_logs_reply(std::string_view text,
                                            const ChatLogLimits& limits = {});

// All lines of `logs` in order, moved out of them (logs are left without lines).
std::vector<ChatLine> take_lines(std::vector<ChatLog>& logs);

// Index of the agent's last message (the last line with inbound == false), if any.
std::optional<std::size_t> last_agent_message_index(const std::vector<ChatLine>& lines);

// ---- Paging: POST /memori/v2/UserChatLogsByTokenPaged -------------------------------------

inline constexpr std::string_view user_chat_logs_paged_path = "/memori/v2/UserChatLogsByTokenPaged";

struct ChatLogFilters {
  // howMany may be 1..max_how_many: one page is one reply, and a reply must stay small
  // enough to parse on a page load.
  static constexpr std::int64_t max_how_many = 100;

  std::string login_token;  // required, non-empty
  std::string memori_id;    // required, non-empty (our agent id)
  std::int64_t from = 0;    // index of the first chat log, >= 0
  std::int64_t how_many = 20;
  std::optional<std::int64_t> date_from_ms;               // epoch ms, sent as yyyyMMddHHmmssfff UTC
  std::optional<std::int64_t> date_to_ms;                 // epoch ms; date_from_ms <= date_to_ms
  std::optional<std::int64_t> minimum_messages_per_chat;  // >= 0
  std::optional<bool> show_chats_with_no_history;
};

// Checks the filters and builds the request body; absent options are omitted. Error code
// chat_log_filters_invalid (or a date_* code for an unwritable date); messages name the field
// by its wire name (loginToken, memoriID, from, howMany, dateFrom, dateTo, ...).
Result<json> make_chat_log_filters_body(const ChatLogFilters& filters);

// The server's side of the same body: every field checked as make_chat_log_filters_body
// checks it, plus the JSON types (integers must be whole numbers; dates are Memori dates;
// null counts as absent). Unknown members are ignored, as the Memori engine ignores them.
// Error codes: chat_log_filters_invalid (the message names the field), date_* codes.
Result<ChatLogFilters> parse_chat_log_filters_body(const json& body);

struct PagedChatLogs {
  MemoriReplyHeader header;
  std::vector<ChatLog> chat_logs;
  std::int64_t count = 0;        // chat logs in this page
  std::int64_t total_count = 0;  // chat logs matching the filters
};

// Parses the paged reply {chatLogs, count, totalCount}; count and totalCount are required
// non-negative integers.
Result<PagedChatLogs> parse_paged_chat_logs_reply(std::string_view text,
                                                  const ChatLogLimits& limits = {});

}  // namespace parley
