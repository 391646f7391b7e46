# `parley template [--metadata JSON] TEMPLATE` (sourced by test-cli.sh).
expect "template: fills variables" 0 '^Hi John, pro max\.$' \
  -- template --metadata '{"userName":"John","plan":"pro max"}' 'Hi {userName}, {plan}.'
expect "template: --metadata=JSON form" 0 '^Hi Ann$' -- template --metadata='{"n":"Ann"}' 'Hi {n}'
expect "template: nested, index, fallback, braces" 0 '^Ann 2 friend \{x\} 42$' \
  -- template --metadata '{"u":{"name":"Ann"},"t":["1","2"],"n":42}' '{u.name} {t.1} {who|friend} {{x}} {n}'
expect "template: missing text kept as written" 0 '^Hi \{name\}, \{plan\}\.$' -- template 'Hi {name}, {plan}.'
expect "template: missing names listed" 0 '^missing: name, plan$' -- template 'Hi {name}, {plan}.'
expect "template: no re-expansion" 0 '^\{b\}$' -- template --metadata '{"a":"{b}","b":"B"}' '{a}'
expect "template: template starting with dashes after --" 0 '^--x Ann$' -- template --metadata '{"n":"Ann"}' -- '--x {n}'
expect "template: invalid metadata JSON" 2 'parley: --metadata is not valid JSON' -- template --metadata '{"a":' '{a}'
expect "template: metadata not an object" 2 'metadata must be a JSON object, not array' -- template --metadata '[1]' '{a}'
expect "template: metadata over the key limit" 2 'metadata key "1a" does not match' -- template --metadata '{"1a":"x"}' '{a}'
expect "template: metadata over 8 KiB" 2 'over the limit of 8192' \
  -- template --metadata "{\"a\":[$(printf '"%0100d",' $(seq 1 90) | sed 's/,$//')]}" '{a}'
expect "template: no template" 64 'usage: parley template' -- template --metadata '{}'
expect "template: unknown option" 64 'unknown option --frob' -- template --frob 'x'
expect "template: two templates" 64 'expects one template' -- template a b
