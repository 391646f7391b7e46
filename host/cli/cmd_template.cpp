// `parley template [--metadata JSON] TEMPLATE`: fills a template as the agent would, printing
// the text on stdout and the variables left unfilled on stderr ("missing: a, b").
#include <iostream>
#include <optional>
#include <string>

#include "command.hpp"
#include "parley/metadata.hpp"
#include "parley/templates.hpp"

namespace parley::cli {
namespace {

constexpr const char* name = "template";

struct TemplateArgs {
  std::string metadata_text = "{}";
  std::optional<std::string> tmpl;
};

Error usage(std::string problem) { return make_error("usage", std::move(problem)); }

// Options first; `--` ends them, so a template may itself start with "--".
Result<TemplateArgs> read_args(const Args& args) {
  TemplateArgs out;
  bool options = true;
  bool metadata_seen = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options && a == "--") {
      options = false;
    } else if (options && (a == "--metadata" || a.rfind("--metadata=", 0) == 0)) {
      if (metadata_seen) return usage("--metadata given twice");
      metadata_seen = true;
      if (a != "--metadata") {
        out.metadata_text = a.substr(a.find('=') + 1);
      } else if (i + 1 < args.size()) {
        out.metadata_text = args[++i];
      } else {
        return usage("--metadata needs a JSON object");
      }
    } else if (options && a.rfind("--", 0) == 0) {
      return usage("unknown option " + a);
    } else if (out.tmpl) {
      return usage("expects one template");
    } else {
      out.tmpl = a;
    }
  }
  if (!out.tmpl) return usage("missing the template");
  return out;
}

int run_template(const Args& args) {
  auto parsed_args = read_args(args);
  if (!parsed_args) return usage_error(name, parsed_args.error().message);

  auto metadata = parse_json(parsed_args->metadata_text, "--metadata");
  if (!metadata) return fail(metadata.error().message);
  if (auto status = validate_metadata(*metadata); !status) return fail(status.error().message);

  auto result = fill_template(*parsed_args->tmpl, *metadata);
  std::cout << result.text << "\n";
  if (!result.missing.empty()) {
    std::string list;
    for (const auto& m : result.missing) list += (list.empty() ? "" : ", ") + m;
    std::cerr << "missing: " << list << "\n";
  }
  return exit_ok;
}

const Registration registration{Command{
    name, "template [--metadata JSON] TEMPLATE",
    "Fill {variables} in TEMPLATE from metadata; names left unfilled are listed on stderr.",
    run_template}};

}  // namespace
}  // namespace parley::cli
