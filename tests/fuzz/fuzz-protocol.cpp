// The voice protocol from strangers, both ways. For any input:
//  - parse_server_message / parse_client_message give a value or an Error, never a crash;
//  - what parses, built again, parses back to the same message and builds to the same text;
//  - any JSON given to start() either is refused or makes an initiate that the server-side
//    parser accepts and reads back as the same request;
//  - a Call fed the input as a script of socket events never crashes, and every text frame it
//    sends is one the server-side parser accepts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "parley/call.hpp"
#include "parley/json.hpp"
#include "parley/protocol.hpp"
#include "parley/start_request.hpp"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

void server_round_trip(std::string_view text) {
  auto message = parley::parse_server_message(text);
  if (!message) {
    require(!message.error().code.empty() && !message.error().message.empty());
    return;
  }
  const std::string built = parley::build_server_message(*message);
  auto again = parley::parse_server_message(built);
  require(again.ok() && *again == *message);
  require(parley::build_server_message(*again) == built);
}

void client_round_trip(std::string_view text) {
  auto message = parley::parse_client_message(text);
  if (!message) {
    require(!message.error().code.empty() && !message.error().message.empty());
    (void)parley::close_code_for_error(message.error());
    return;
  }
  const std::string built = parley::build_client_message(*message);
  // The compact form is rarely longer ("1E2" becomes "100.0"), but it may cross the limit.
  if (built.size() > parley::ProtocolLimits::max_text_frame_bytes) return;
  auto again = parley::parse_client_message(built);
  require(again.ok() && *again == *message);
}

void start_round_trip(std::string_view text) {
  auto value = parley::parse_json(text, "fuzz");
  if (!value) return;
  const parley::json none;
  const parley::json& v = *value;
  // An array is read as start()'s argument list, anything else as its first argument.
  auto request = v.is_array() && !v.empty() && v.size() <= 3
                     ? parley::normalize_start(v[0], v.size() > 1 ? v[1] : none,
                                               v.size() > 2 ? v[2] : none)
                     : parley::normalize_start(v);
  if (!request) return;
  require(request->agent_id.has_value() != request->agent_config.has_value());
  const std::string initiate = parley::make_initiate(*request, "pk_fuzz");
  if (initiate.size() > parley::ProtocolLimits::max_text_frame_bytes) return;
  auto parsed = parley::parse_client_message(initiate);
  require(parsed.ok());
  const auto* message = std::get_if<parley::InitiateMessage>(&*parsed);
  require(message != nullptr && message->public_key == "pk_fuzz" &&
          message->request == *request);
}

void check_outgoing(const std::vector<parley::Outgoing>& out) {
  for (const auto& o : out) {
    if (o.kind == parley::Outgoing::Kind::text) {
      if (o.text.size() > parley::ProtocolLimits::max_text_frame_bytes) continue;
      require(parley::parse_client_message(o.text).ok());
    } else if (o.kind == parley::Outgoing::Kind::binary) {
      require(parley::validate_audio_frame(o.audio.size()).ok());
    }
  }
}

// The input as a script: records separated by '\n'; a record's first byte picks the event.
void drive_call(std::string_view script) {
  parley::StartRequest request;
  request.agent_id = "ag_fuzz";
  parley::Call call(parley::CallConfig{"pk_fuzz", 1000});
  require(call.start(request, 0).ok());
  call.on_open(1);
  std::int64_t now = 1;
  while (!script.empty()) {
    const std::size_t end = script.find('\n');
    std::string_view record = script.substr(0, end);
    script = end == std::string_view::npos ? std::string_view() : script.substr(end + 1);
    if (record.empty()) continue;
    const char op = record[0];
    const std::string_view rest = record.substr(1);
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(rest.data());
    now += 7 + static_cast<unsigned char>(op) % 50;
    switch (static_cast<unsigned char>(op) % 10) {
      case 0: call.on_binary(bytes, rest.size(), now); break;
      case 1: (void)call.on_audio_captured(bytes, rest.size(), now); break;
      case 2: call.tick(now); break;
      case 3: call.on_playback_drained(now); break;
      case 4: call.snapshot().muted ? call.unmute() : call.mute(); break;
      case 5: call.on_close(rest.empty() ? 1000 : 4000 + static_cast<int>(bytes[0]), rest, now); break;
      case 6: call.stop(now); break;
      case 7:
        if (call.start(request, now).ok()) call.on_open(now);
        break;
      case 8: (void)call.send_text(rest, now); break;
      default: call.on_text(rest, now); break;
    }
    check_outgoing(call.take_outgoing());
    for (const auto& event : call.take_events()) require(!parley::event_name(event).empty());
    (void)call.snapshot();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  server_round_trip(text);
  client_round_trip(text);
  start_round_trip(text);
  (void)parley::validate_audio_frame(size);
  drive_call(text);
  return 0;
}
