// The client workflow, run with types that openapi-typescript generated from the served
// /openapi.json (generated/schema.d.ts) and calls made through openapi-fetch. tsc checks
// every call and field against the document before it runs:
//
//     CRM_API_URL=http://127.0.0.1:8000/api/v1 node dist/workflow.js
//
// Signs up, logs in (JSON and the OAuth2 form), creates a company and a contact linked to
// it, moves a deal NEW -> NEGOTIATION -> CLOSED_WON, reads its history and the summary,
// searches and pages through more than two pages, books a viewing of a property, sees a
// double booking refused with 409, sees a second tenant get 404 for the first tenant's
// contact, and reads webhook messages about the contact and the deal, narrowed by their
// `type`. Exits non-zero on the first failure.

import { readFileSync } from "node:fs";
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";

type Problem = components["schemas"]["Problem"];
type WebhookEvent = components["schemas"]["WebhookEvent"];

const baseUrl = process.env.CRM_API_URL ?? "";
// The server's log: without an SMTP server it writes each message, link included, there.
const serverLog = process.env.CRM_SERVER_LOG ?? "";
const password = "correct horse battery staple";
const run = Math.random().toString(16).slice(2, 10);

function fail(message: string): never {
  console.error(`typescript client workflow: ${message}`);
  process.exit(1);
}

function check(condition: boolean, message: string): void {
  if (!condition) fail(message);
}

/** The parsed answer, after checking the status. */
function ok<T>(result: { data?: T; error?: unknown; response: Response }, status: number): T {
  if (result.response.status !== status || result.data === undefined) {
    fail(`expected ${status}, got ${result.response.status}: ${JSON.stringify(result.error)}`);
  }
  return result.data;
}

/** The problem document of a refused request, after checking the status. */
function refused(result: { error?: unknown; response: Response }, status: number): Problem {
  if (result.response.status !== status) {
    fail(`expected ${status}, got ${result.response.status}`);
  }
  return result.error as Problem;
}

function client(token?: string) {
  return createClient<paths>({
    baseUrl,
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
}

/** The token of the newest `path?token=…` link mailed to `recipient` (from the log). */
async function mailedToken(recipient: string, path: string): Promise<string> {
  const link = new RegExp(`${path.replace(/[.?/]/g, "\\$&")}\\?token=([0-9A-Fa-f.-]+)`, "g");
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const found = readFileSync(serverLog, "utf8")
      .split("\n")
      .filter((line) => line.includes(recipient))
      .flatMap((line) => [...line.matchAll(link)].map((m) => m[1]));
    if (found.length > 0) {
      return found[found.length - 1] ?? "";
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`no ${path} link was mailed to ${recipient}`);
}

async function signedUp(tenant: string): Promise<{ email: string; token: string }> {
  const email = `owner-${run}@${tenant.toLowerCase()}.example`;
  ok(
    await client().POST("/auth/signup", {
      body: { tenant_name: tenant, email, password, full_name: "Owner" },
    }),
    202,
  );
  const token = await mailedToken(email, "/signup/confirm");
  const tokens = ok(await client().POST("/auth/signup/confirm", { body: { token } }), 201);
  return { email, token: tokens.access_token };
}

/** The record a webhook message is about: tsc narrows `data` by the message's `type`. */
function subject(message: WebhookEvent): string {
  switch (message.type) {
    case "deal.stage_changed":
      return message.data.deal.id;
    case "webhook.test":
      return message.data.endpoint_id;
    default:
      return message.data.id;
  }
}

async function main(): Promise<void> {
  const { email } = await signedUp("Acme");
  const anonymous = client();
  const jsonLogin = ok(await anonymous.POST("/auth/login", { body: { email, password } }), 200);
  const formLogin = ok(
    await anonymous.POST("/auth/login", {
      body: { username: email, password },
      bodySerializer: (body) => new URLSearchParams(body as Record<string, string>),
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    }),
    200,
  );
  check(jsonLogin.token_type === "bearer" && formLogin.token_type === "bearer", "token types");
  const api = client(formLogin.access_token);
  const me = ok(await api.GET("/auth/me"), 200);
  check(me.email === email, `me: ${JSON.stringify(me)}`);

  const company = ok(await api.POST("/companies", { body: { name: "Engines Ltd" } }), 201);
  const contact = ok(
    await api.POST("/contacts", {
      body: { first_name: "Ada", last_name: "Lovelace", company_id: company.id },
    }),
    201,
  );
  check(contact.company_id === company.id && !("email" in contact), JSON.stringify(contact));

  let deal = ok(
    await api.POST("/deals", {
      body: {
        title: "Licence",
        contact_id: contact.id,
        company_id: company.id,
        amount_minor: 125_000,
        currency: "EUR",
        expected_close_date: "2030-06-30",
      },
    }),
    201,
  );
  check(deal.stage === "NEW", JSON.stringify(deal));
  for (const stage of ["NEGOTIATION", "CLOSED_WON"] as const) {
    deal = ok(
      await api.PATCH("/deals/{id}", { params: { path: { id: deal.id } }, body: { stage } }),
      200,
    );
  }
  check(deal.stage === "CLOSED_WON", JSON.stringify(deal));
  const history = ok(
    await api.GET("/deals/{id}/history", { params: { path: { id: deal.id } } }),
    200,
  );
  check(
    history.items.map((change) => change.to_stage).join() === "NEW,NEGOTIATION,CLOSED_WON",
    JSON.stringify(history),
  );
  const timestamp = new Date().toISOString();
  const messages: WebhookEvent[] = [
    { id: "0190c5b2-0000-7000-8000-000000000001", type: "contact.created", timestamp, data: contact },
    {
      id: "0190c5b2-0000-7000-8000-000000000002",
      type: "deal.stage_changed",
      timestamp,
      data: {
        from_pipeline_id: deal.pipeline_id,
        from_stage: "NEGOTIATION",
        pipeline_id: deal.pipeline_id,
        to_stage: "CLOSED_WON",
        changed_at: timestamp,
        deal,
      },
    },
  ];
  check(messages.map(subject).join() === `${contact.id},${deal.id}`, "webhook messages");
  const summary = ok(await api.GET("/deals/summary"), 200);
  const won = summary.stages.find((stage) => stage.stage === "CLOSED_WON");
  const totals = won?.amounts.map((amount) => `${amount.currency} ${amount.amount_minor}`);
  check(totals?.join() === "EUR 125000", JSON.stringify(won));

  for (let number = 0; number < 5; number++) {
    ok(
      await api.POST("/contacts", { body: { first_name: `Pager ${number}`, last_name: "Reader" } }),
      201,
    );
  }
  const seen: string[] = [];
  let pages = 0;
  let cursor: string | undefined;
  do {
    const page = ok(
      await api.GET("/contacts", { params: { query: { q: "pager", limit: 2, cursor } } }),
      200,
    );
    pages += 1;
    seen.push(...page.items.map((item) => item.first_name));
    cursor = page.next_cursor;
  } while (cursor !== undefined);
  const expected = [0, 1, 2, 3, 4].map((n) => `Pager ${n}`).join();
  check(pages === 3 && seen.sort().join() === expected, `${pages} pages: ${seen}`);

  const home = ok(
    await api.POST("/properties", {
      body: {
        title: "Flat by the park",
        address: { line: "1 High Street", city: "Leeds", country: "GB" },
        price_minor: 25_000_000,
        listing_type: "SALE",
        property_type: "APARTMENT",
      },
    }),
    201,
  );
  const viewings = { params: { path: { id: home.id } } };
  const start = "2031-03-01T10:00:00Z";
  const viewing = ok(
    await api.POST("/properties/{id}/viewings", {
      ...viewings,
      body: { contact_id: contact.id, scheduled_at: start, duration_minutes: 60 },
    }),
    201,
  );
  check(Date.parse(viewing.scheduled_at) === Date.parse(start), JSON.stringify(viewing));
  const double = refused(
    await api.POST("/properties/{id}/viewings", {
      ...viewings,
      body: { contact_id: contact.id, scheduled_at: "2031-03-01T10:30:00Z" },
    }),
    409,
  );
  check(double.status === 409, JSON.stringify(double));

  const other = client((await signedUp("Globex")).token);
  const hidden = refused(
    await other.GET("/contacts/{id}", { params: { path: { id: contact.id } } }),
    404,
  );
  check(hidden.status === 404, JSON.stringify(hidden));
  console.log("typescript client workflow: passed");
}

main().catch((error: unknown) => fail(String(error)));
