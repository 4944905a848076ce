-- wrk script: a non-streamed POST /v1/chat/completions of the bench model (see bench/relay.sh).
-- TOKEN (environment) is the bearer token; empty for the fake upstream itself.
-- MODEL (environment) picks the model, `bench` by default.
local model = os.getenv("MODEL")
if model == nil or model == "" then
    model = "bench"
end
wrk.method = "POST"
wrk.body = '{"model":"' .. model .. '","messages":[{"role":"user","content":"Say hello"}],"stream":false}'
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("TOKEN")
if token ~= nil and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
end
