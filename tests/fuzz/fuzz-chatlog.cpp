// Chat history and session replies from strangers: any bytes must give a value or an Error.
// Invariants checked (abort = a finding):
//  - the ChatLog scanner accepts only JSON that nlohmann's DOM parser accepts too (except
//    numbers beyond double range in skipped fields, which JSON.parse also accepts), and then
//    extracts exactly the lines the DOM holds;
//  - a paged parse succeeds only where the plain parse does;
//  - the resume flow fed these bytes as every reply ends (within a few steps) and only ever
//    stores a valid session id;
//  - a stored session value decodes to a record that encodes and decodes to itself;
//  - a Memori date that parses formats back to the same text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "parley/chatlog.hpp"
#include "parley/json.hpp"
#include "parley/memori_date.hpp"
#include "parley/resume_flow.hpp"
#include "parley/session_store.hpp"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

void compare_with_dom(std::string_view text, const parley::ChatLogsReply& reply) {
  parley::json dom;
  try {
    dom = parley::json::parse(text.begin(), text.end());
  } catch (const parley::json::out_of_range&) {
    return;  // a number beyond double range in a skipped field: JSON.parse accepts it too
  } catch (const parley::json::exception&) {
    std::abort();  // the scanner accepted text that is not JSON
  }
  const parley::json& logs = dom.at("chatLogs");
  require(logs.is_array() && logs.size() == reply.chat_logs.size());
  std::size_t total = 0;
  for (std::size_t i = 0; i < logs.size(); ++i) {
    const auto& log = reply.chat_logs[i];
    require(log.chat_log_id == logs[i].at("chatLogID").get<std::string>());
    require(log.session_id == logs[i].at("sessionID").get<std::string>());
    const parley::json& lines = logs[i].at("lines");
    require(lines.size() == log.lines.size());
    for (std::size_t j = 0; j < lines.size(); ++j) {
      const auto& line = log.lines[j];
      require(line.text == lines[j].at("text").get<std::string>());
      require(line.inbound == lines[j].at("inbound").get<bool>());
      require(line.timestamp == lines[j].at("timestamp").get<std::string>());
      const parley::json emitter = lines[j].value("emitter", parley::json());
      require(line.emitter.has_value() == emitter.is_string());
      if (line.emitter) require(*line.emitter == emitter.get<std::string>());
      require(line.context_vars == lines[j].value("contextVars", parley::json()));
    }
    total += lines.size();
  }
  require(total == reply.line_count);
}

void run_resume_flow(std::string_view body, bool with_stored_session) {
  parley::MapKeyValueStore kv;
  parley::SessionStore store(kv);
  if (with_stored_session) {
    parley::SessionRecord r{"old-session-1", "agent-1", 1000, std::nullopt};
    require(store.save("", r).ok());
  }
  parley::ResumeInput input;
  input.agent_id = "agent-1";
  parley::ResumeFlow flow(store, input);
  auto request = flow.start(2000);
  const int statuses[] = {200, 404, 200, 400, 200};
  for (int step = 0; request && step < 5; ++step) {
    request = flow.on_response({statuses[step], std::string(body)}, 2000 + step);
  }
  require(!request.has_value() && flow.finished());
  auto loaded = store.load("");
  if (loaded.record) require(parley::is_valid_session_id(loaded.record->session_id));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);

  auto reply = parley::parse_chat_logs_reply(text);
  if (reply) {
    compare_with_dom(text, *reply);
    auto lines = parley::take_lines(reply->chat_logs);
    require(lines.size() == reply->line_count);
    if (auto last = parley::last_agent_message_index(lines)) require(!lines[*last].inbound);
  }
  auto page = parley::parse_paged_chat_logs_reply(text);
  if (page) require(reply.ok());

  run_resume_flow(text, size % 2 == 0);

  auto record = parley::SessionStore::decode(text);
  if (record) {
    auto again = parley::SessionStore::decode(parley::SessionStore::encode(*record));
    require(again.ok() && *again == *record);
  }

  if (size <= 32) {
    auto ms = parley::parse_memori_date(text);
    if (ms) {
      auto back = parley::format_memori_date(*ms);
      require(back.ok() && *back == text);
    }
  }
  return 0;
}
