# `parley url <EMBED-URL>` (sourced by test-cli.sh).
long_key=$(printf 'x%.0s' {1..70})
kib=$(printf 'v%.0s' {1..1000})
big_query=""
for k in a b c d e f g h i; do big_query+="&$k=$kib"; done

expect "url: the example, one line of JSON in field order" 0 \
  '^\{"agent_id":"a1","public_key":"pk_1","session_id":null,"integration_id":null,"identity_keys":null,"logout":false,"metadata":\{"plan":"pro max","tag":\["a","b"\],"userName":"John Doe"\}\}$' \
  -- url 'https://x.test/embed?id=a1&k=pk_1&userName=John%20Doe&tag=a&tag=b&plan=pro+max'
expect "url: relative reference with session and integration" 0 \
  '"session_id":"s1","integration_id":"site-a"' -- url '/embed?id=a1&k=pk_1&sessionID=s1&integrationID=site-a'
expect "url: unicode value" 0 '"city":"Zürich"' -- url '/embed?id=a1&k=pk_1&city=Z%C3%BCrich'
expect "url: flag without value" 0 '"metadata":\{"debug":""\}' -- url '/embed?id=a1&k=pk_1&debug'
expect "url: bad percent-encoding names the parameter" 2 \
  '^parley: parameter "userName": bad percent-encoding "%zz"' -- url '/embed?id=a1&k=pk_1&userName=%zz'
expect "url: truncated escape" 2 'parameter "userName": bad percent-encoding "%4"' -- url '/embed?id=a1&k=pk_1&userName=%4'
expect "url: key over 64 bytes" 2 'parameter "x{64}\.\.\.": the name is 70 bytes, over the limit of 64' \
  -- url "/embed?id=a1&k=pk_1&$long_key=1"
expect "url: value over 1 KiB" 2 'parameter "v": the value is 2000 bytes, over the limit of 1024' \
  -- url "/embed?id=a1&k=pk_1&v=$kib$kib"
expect "url: metadata over 8 KiB" 2 'metadata is 9064 bytes as JSON, over the limit of 8192' \
  -- url "/embed?id=a1&k=pk_1$big_query"
expect "url: missing agent id" 2 'parameter "id" \(the agent id\) is missing' -- url '/embed?k=pk_1'
expect "url: repeated public key" 2 'parameter "k" \(the public key\) appears more than once' -- url '/embed?id=a1&k=1&k=2'
expect "url: raw space" 2 'parameter "userName": character " " is not allowed in a URL; percent-encode it as %20' \
  -- url '/embed?id=a1&k=pk_1&userName=John Doe'
expect "url: other scheme" 2 'scheme must be http or https, not "ftp"' -- url 'ftp://x.test/embed?id=a1&k=pk_1'
expect "url: no argument" 64 'usage: parley url <EMBED-URL>' -- url
expect "url: two arguments" 64 'usage: parley url' -- url /embed?id=a /embed?id=b
