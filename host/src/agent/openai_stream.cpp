#include "openai_stream.hpp"

#include <algorithm>
#include <utility>

namespace parley::host {
namespace {

// The longest suffix of `text` that is a proper prefix of `tag`.
std::size_t partial_tag_suffix(std::string_view text, std::string_view tag) {
  const std::size_t most = std::min(text.size(), tag.size() - 1);
  for (std::size_t n = most; n > 0; --n) {
    if (text.substr(text.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' ||
                        s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' ||
                        s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

const json* member(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string string_member(const json& object, const char* key) {
  const json* value = member(object, key);
  return value && value->is_string() ? value->get<std::string>() : std::string();
}

std::string cut(std::string text, std::size_t max) {
  if (text.size() <= max) return text;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  text.resize(n);
  return text + "...";
}

}  // namespace

std::string upstream_error_text(const json& error) {
  if (error.is_string()) return cut(error.get<std::string>(), 300);
  if (!error.is_object()) return cut(to_json_text(error), 300);
  std::string text = string_member(error, "message");
  if (text.empty()) text = string_member(error, "error");  // Ollama's {"error": "..."}
  std::string detail;
  for (const char* key : {"type", "code"}) {
    const json* value = member(error, key);
    if (!value) continue;
    std::string v = value->is_string() ? value->get<std::string>() : to_json_text(*value);
    if (v.empty()) continue;
    detail += (detail.empty() ? "" : ", ") + std::string(key) + " " + cut(v, 60);
  }
  if (text.empty()) text = cut(to_json_text(error), 300);
  text = cut(text, 300);
  return detail.empty() ? text : text + " (" + detail + ")";
}

// ---- ThinkFilter ---------------------------------------------------------------------------

std::string ThinkFilter::feed(std::string_view piece) {
  static constexpr std::string_view open = "<think>";
  static constexpr std::string_view close = "</think>";
  std::string text = std::move(held_);
  held_.clear();
  text.append(piece);
  std::string out;
  std::string_view rest = text;
  while (!rest.empty()) {
    if (!inside_) {
      auto at = rest.find(open);
      if (at != std::string_view::npos) {
        out.append(rest.substr(0, at));
        rest.remove_prefix(at + open.size());
        inside_ = true;
        continue;
      }
      const std::size_t keep = partial_tag_suffix(rest, open);
      out.append(rest.substr(0, rest.size() - keep));
      held_.assign(rest.substr(rest.size() - keep));
      break;
    }
    auto at = rest.find(close);
    if (at != std::string_view::npos) {
      rest.remove_prefix(at + close.size());
      inside_ = false;
      continue;
    }
    const std::size_t keep = partial_tag_suffix(rest, close);
    held_.assign(rest.substr(rest.size() - keep));
    break;
  }
  return out;
}

std::string ThinkFilter::finish() {
  std::string out = inside_ ? std::string() : std::move(held_);
  held_.clear();
  return out;
}

// ---- ChatStreamDecoder ---------------------------------------------------------------------

void ChatStreamDecoder::problem(std::string what) {
  ++bad_chunks_;
  if (first_problem_.empty()) first_problem_ = std::move(what);
}

ChatStreamDecoder::Piece ChatStreamDecoder::apply(const SseEvent& event) {
  Piece piece;
  if (!event.error.empty()) {
    auto parsed = parse_json(event.error, "the stream's error field");
    piece.error = make_error("llm_upstream_error",
                             parsed ? upstream_error_text(*parsed) : cut(event.error, 300));
    return piece;
  }
  const std::string_view data = trim(event.data);
  if (data == "[DONE]") {
    piece.done = true;
    return piece;
  }
  if (data.empty()) return piece;  // an empty data line: nothing (some proxies keep alive so)
  auto parsed = parse_json(data, "a stream chunk");
  if (!parsed) {
    problem("a chunk that is not JSON: " + cut(std::string(data), 80));
    return piece;
  }
  const json& chunk = *parsed;
  if (!chunk.is_object()) {
    problem(std::string("a chunk that is a JSON ") + json_type_name(chunk) + ", not an object");
    return piece;
  }
  if (const json* error = member(chunk, "error")) {
    piece.error = make_error("llm_upstream_error", upstream_error_text(*error));
    return piece;
  }
  if (const json* usage = member(chunk, "usage"); usage && usage->is_object()) {
    if (const json* v = member(*usage, "prompt_tokens"); v && v->is_number_integer()) {
      usage_.prompt_tokens = v->get<std::int64_t>();
    }
    if (const json* v = member(*usage, "completion_tokens"); v && v->is_number_integer()) {
      usage_.completion_tokens = v->get<std::int64_t>();
    }
  }
  const json* choices = member(chunk, "choices");
  if (!choices) return piece;  // a usage chunk (vLLM sends `choices: null`)
  if (!choices->is_array()) {
    problem("a chunk whose choices is not an array");
    return piece;
  }
  for (const json& choice : *choices) {
    if (!choice.is_object()) continue;
    if (const json* index = member(choice, "index");
        index && index->is_number_integer() && index->get<std::int64_t>() != 0) {
      continue;  // we ask for one choice; another one is not ours to speak
    }
    const json* delta = member(choice, "delta");
    if (!delta) delta = member(choice, "message");  // a server that sends the whole message
    if (delta && delta->is_object()) {
      if (const json* content = member(*delta, "content"); content && content->is_string()) {
        piece.content += think_.feed(content->get_ref<const std::string&>());
      }
      if (const json* calls = member(*delta, "tool_calls")) {
        if (calls->is_array()) {
          for (const json& entry : *calls) apply_tool_call(entry);
        } else if (calls->is_object()) {
          apply_tool_call(*calls);
        }
      }
    }
    if (const json* reason = member(choice, "finish_reason"); reason && reason->is_string()) {
      std::string text = reason->get<std::string>();
      if (!text.empty()) piece.finish_reason = cut(std::move(text), 40);
    }
  }
  return piece;
}

void ChatStreamDecoder::apply_tool_call(const json& entry) {
  if (!entry.is_object()) {
    problem("a tool_calls entry that is not an object");
    return;
  }
  std::optional<std::int64_t> index;
  if (const json* i = member(entry, "index"); i && i->is_number_integer()) {
    const auto v = i->get<std::int64_t>();
    if (v >= 0 && v < 1000) index = v;
  }
  const std::string id = cut(string_member(entry, "id"), 128);
  const json* function = member(entry, "function");
  const std::string name = function ? cut(string_member(*function, "name"), 128) : std::string();

  Slot* slot = nullptr;
  if (!id.empty()) {
    for (auto& s : slots_) {
      if (s.id == id) slot = &s;
    }
  }
  if (!slot && index) {
    for (auto it = slots_.rbegin(); it != slots_.rend(); ++it) {
      if (it->index == *index) {
        slot = &*it;
        break;
      }
    }
    // The same index with another id is another call (ollama/ollama#15457); so is a second
    // name at an index whose call already holds complete arguments.
    if (slot && !id.empty() && !slot->id.empty() && slot->id != id) slot = nullptr;
    if (slot && !name.empty() && !slot->name.empty() &&
        (slot->arguments_object.is_object() ||
         (!slot->arguments.empty() && parse_json(slot->arguments, "arguments").ok()))) {
      slot = nullptr;
    }
  } else if (!slot && !index && name.empty() && !slots_.empty()) {
    slot = &slots_.back();  // no index, no name: the rest of the call in progress
  }
  if (!slot) {
    if (slots_.size() >= max_tool_calls) {
      problem("more than " + std::to_string(max_tool_calls) + " tool calls in one answer");
      return;
    }
    slots_.emplace_back();
    slot = &slots_.back();
    slot->index = index.value_or(-1);
  }
  if (!id.empty() && slot->id.empty()) slot->id = id;
  if (!name.empty() && slot->name.empty()) slot->name = name;
  if (!function) return;
  const json* arguments = member(*function, "arguments");
  if (!arguments) return;
  if (arguments->is_string()) {
    const auto& text = arguments->get_ref<const std::string&>();
    if (slot->arguments.size() + text.size() > max_argument_bytes) {
      slot->truncated = true;
      return;
    }
    slot->arguments += text;
  } else if (arguments->is_object()) {
    slot->arguments_object = *arguments;  // sent whole (llama.cpp#20198, TGI#2136)
  } else {
    problem(std::string("tool call arguments that are a JSON ") + json_type_name(*arguments));
  }
}

std::string ChatStreamDecoder::finish_content() { return think_.finish(); }

std::vector<StreamedToolCall> ChatStreamDecoder::tool_calls() const {
  std::vector<StreamedToolCall> out;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    const Slot& slot = slots_[i];
    StreamedToolCall call;
    call.id = slot.id.empty() ? "call_" + std::to_string(i) : slot.id;
    call.name = slot.name;
    if (slot.name.empty()) call.error = "the model called a tool without a name";
    if (slot.truncated) {
      call.error = "the arguments of " + slot.name + " are longer than " +
                   std::to_string(max_argument_bytes) + " bytes";
      call.arguments_text = "{}";
    } else if (slot.arguments_object.is_object()) {
      call.arguments = slot.arguments_object;
      call.arguments_text = to_json_text(call.arguments);
    } else if (trim(slot.arguments).empty()) {
      call.arguments_text = "{}";
    } else {
      call.arguments_text = slot.arguments;
      auto parsed = parse_json(slot.arguments, "the arguments of tool call " + slot.name);
      if (!parsed) {
        if (call.error.empty()) call.error = parsed.error().message;
      } else if (!parsed->is_object()) {
        if (call.error.empty()) {
          call.error = "the arguments of " + slot.name + " are a JSON " +
                       json_type_name(*parsed) + ", not an object";
        }
      } else {
        call.arguments = std::move(*parsed);
      }
    }
    out.push_back(std::move(call));
  }
  return out;
}

}  // namespace parley::host
