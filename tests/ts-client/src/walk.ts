// A frontend's first steps, typed by the client generated from openapi/openapi.json: set up,
// register, log in, refresh, make a chat, send a message (non-streamed) and read the history,
// make an API key, redeem a card code, read the ledger, and read an error's typed code. Any
// failed step exits non-zero. UPSTREAM_URL is an OpenAI-speaking fake provider.
import createClient from "openapi-fetch";
import type { components, paths } from "./confab.js";

type ErrorCode = components["schemas"]["ErrorDetail"]["code"];

const base = process.env.CONFAB_URL ?? "http://127.0.0.1:18181";
const upstream = process.env.UPSTREAM_URL ?? "";
const api = createClient<paths>({ baseUrl: base });

function check(condition: boolean, what: string): asserts condition {
  if (!condition) {
    throw new Error(`step failed: ${what}`);
  }
}

function auth(token: string) {
  return { headers: { Authorization: `Bearer ${token}` } };
}

async function main(): Promise<void> {
  const admin = { username: "tsadmin", password: "ts-admin-passphrase-1" };
  const setup = await api.POST("/api/v1/setup", { body: admin });
  check(setup.response.status === 201, `setup answered ${setup.response.status}`);
  const adminLogin = await api.POST("/api/v1/auth/login", { body: admin });
  check(adminLogin.data !== undefined, "admin login");
  const adminToken = adminLogin.data.access_token;

  const user = { username: "tsuser", password: "ts-user-passphrase-1" };
  const registered = await api.POST("/api/v1/auth/register", { body: user });
  check(registered.response.status === 201, `register answered ${registered.response.status}`);
  const login = await api.POST("/api/v1/auth/login", { body: user });
  check(login.data !== undefined, "user login");
  const refreshed = await api.POST("/api/v1/auth/refresh", {
    body: { refresh_token: login.data.refresh_token },
  });
  check(refreshed.data !== undefined, "refresh");
  const token = refreshed.data.access_token;
  check(refreshed.data.user.username === "tsuser", "the refreshed pair is the user's");

  // The admin puts a model behind the fake provider.
  const model = await api.POST("/api/v1/admin/models", {
    body: { name: "gpt-4o-mini", modality: "chat" },
    ...auth(adminToken),
  });
  check(model.response.status === 201, `a model answered ${model.response.status}`);
  const provider = await api.POST("/api/v1/admin/provider-keys", {
    body: {
      name: "fake",
      kind: "openai",
      base_url: upstream,
      api_key: "sk-ts-fake-0123456789",
      models: ["gpt-4o-mini"],
    },
    ...auth(adminToken),
  });
  check(provider.response.status === 201, `a provider key answered ${provider.response.status}`);

  const chat = await api.POST("/api/v1/chats", {
    body: { title: "From TypeScript", model: "gpt-4o-mini" },
    ...auth(token),
  });
  check(chat.data !== undefined, "create a chat");
  const reply = await api.POST("/api/v1/chats/{id}/messages", {
    params: { path: { id: chat.data.id } },
    body: { content: "Hello?", stream: false },
    ...auth(token),
  });
  check(reply.data !== undefined, `send a message: ${JSON.stringify(reply.error)}`);
  // The route documents both answers (events, or with `stream: false` JSON): narrow to the JSON.
  const answer = reply.data;
  check(typeof answer === "object" && "message" in answer, "a JSON reply to stream: false");
  check(answer.message.status === "complete" && answer.message.content.length > 0, "an answer");
  const history = await api.GET("/api/v1/chats/{id}/messages", {
    params: { path: { id: chat.data.id } },
    ...auth(token),
  });
  check(history.data !== undefined, "the history");
  const roles = history.data.items.map((message) => message.role);
  check(roles.join(",") === "user,assistant", `the history holds the turn: ${roles.join(",")}`);

  const key = await api.POST("/api/v1/keys", { body: { name: "ts" }, ...auth(token) });
  check(key.data !== undefined && key.data.secret.startsWith("sk-"), "an API key, shown once");

  const batch = await api.POST("/api/v1/admin/redemption-codes", {
    body: { kind: "credits", amount: 42, quantity: 1 },
    ...auth(adminToken),
  });
  check(batch.data !== undefined, "a card code batch");
  // JSON by default; `format=csv` would answer text.
  const created = batch.data;
  check(typeof created === "object", "the batch as JSON");
  const code = created.codes[0];
  check(code !== undefined, "the batch has a code");
  const redeemed = await api.POST("/api/v1/redemptions", { body: { code }, ...auth(token) });
  check(redeemed.data !== undefined && redeemed.data.credits.balance === 42, "the code redeemed");

  const ledger = await api.GET("/api/v1/credits/ledger", { ...auth(token) });
  check(ledger.data !== undefined, "the ledger");
  const entry = ledger.data.items[0];
  check(entry !== undefined && entry.amount === 42 && entry.kind === "redemption", "a redemption entry");

  const wrong = await api.POST("/api/v1/auth/login", {
    body: { username: "tsuser", password: "not-the-password" },
  });
  check(wrong.error !== undefined, "a wrong password is refused");
  const refused: ErrorCode = wrong.error.error.code;
  check(refused === "invalid_credentials", `the typed error code is ${refused}`);

  console.log("ts client: every step passed");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
