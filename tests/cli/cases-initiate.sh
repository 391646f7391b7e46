# parley initiate: the initiate message for a start request (sourced by test-cli.sh).
expect "initiate: agent id" 0 '^\{"method":"initiate","data":\{"public_key":"pk_1","agent":\{"agent_id":"ag_1"\}\}\}$' \
  -- initiate --agent ag_1 --key pk_1
expect "initiate: no key leaves public_key out" 0 '^\{"method":"initiate","data":\{"agent":\{"agent_id":"ag_1"\}\}\}$' \
  -- initiate --agent ag_1
expect "initiate: metadata and in-prompt" 0 '"agent":\{"agent_id":"ag_1"\},"metadata":\{"plan":"premium","userName":"John"\},"include_metadata_in_prompt":true\}' \
  -- initiate --agent ag_1 --metadata '{"userName":"John","plan":"premium"}' --in-prompt --key pk
expect "initiate: continuation" 0 '"session_continuation":\{"session_id":"s-old"\}\}\}$' \
  -- initiate --agent ag_1 --continue s-old --key pk
expect "initiate: agent config" 0 '"agent":\{"agent_config":\{"prompt":"Be brief.","voice":\{"provider":"elevenlabs"\}\}\}' \
  -- initiate --config '{"prompt":"Be brief.","voice":{"provider":"elevenlabs"}}' --key pk
expect "initiate: nested metadata, compact" 0 '^\{"method":"initiate","data":\{"agent":\{"agent_id":"a"\},"metadata":\{"a":\{"b":\[1,2\]\}\}\}\}$' \
  -- initiate --agent a --metadata '{ "a" : { "b" : [1, 2] } }'
expect "initiate: bad metadata JSON" 2 '--metadata: .*not valid JSON' \
  -- initiate --agent ag_1 --metadata '{"userName":'
expect "initiate: metadata not an object" 2 '--metadata: metadata must be a JSON object, not array' \
  -- initiate --agent ag_1 --metadata '["a"]'
expect "initiate: metadata bad key" 2 '--metadata: metadata key "1st" does not match' \
  -- initiate --agent ag_1 --metadata '{"1st":"x"}'
expect "initiate: metadata value too long" 2 '--metadata: .*"v".* over the limit of 1024' \
  -- initiate --agent ag_1 --metadata "{\"v\":\"$(printf 'a%.0s' {1..1100})\"}"
expect "initiate: config not an object" 2 '--config: agent.agent_config must be a JSON object, not string' \
  -- initiate --config '"cfg"'
expect "initiate: bad config JSON" 2 '--config: .*not valid JSON' -- initiate --config '{prompt'
expect "initiate: empty agent id" 2 '--agent: agent.agent_id must not be empty' -- initiate --agent ''
expect "initiate: empty continue id" 2 '--continue: session_continuation.session_id must not be empty' \
  -- initiate --agent a --continue ''
expect "initiate: no agent" 64 'give --agent ID or --config JSON' -- initiate --key pk
expect "initiate: agent and config" 64 'alternatives' -- initiate --agent a --config '{}'
expect "initiate: unknown option" 64 'unknown option "--frob"' -- initiate --agent a --frob
expect "initiate: missing value" 64 '--metadata needs a value' -- initiate --agent a --metadata
expect "initiate: flag twice" 64 '--agent is given twice' -- initiate --agent a --agent b
