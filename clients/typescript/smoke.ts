// A smoke test of the TypeScript that scripts/ts-client.sh generates from proto/ (ts-proto with
// @grpc/grpc-js services), against a running engram: ENGRAM_ADDR (host:port) and ENGRAM_API_KEY.
// Adds a memory, lists it back, and checks two error paths (INVALID_ARGUMENT naming the field,
// UNAUTHENTICATED without a key). Exits non-zero on any mismatch.
import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { MemoryType } from "./gen/engram/v1/common";
import {
  AddMemoryRequest,
  type AddMemoryResponse,
  ListMemoriesRequest,
  type ListMemoriesResponse,
  MemoryServiceClient,
} from "./gen/engram/v1/memories";

const addr = process.env.ENGRAM_ADDR;
const apiKey = process.env.ENGRAM_API_KEY;
if (!addr || !apiKey) {
  console.error("smoke: set ENGRAM_ADDR (host:port) and ENGRAM_API_KEY");
  process.exit(2);
}

const client = new MemoryServiceClient(addr, credentials.createInsecure());
const auth = new Metadata();
auth.set("x-api-key", apiKey);

type Unary<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: { deadline: Date },
  callback: (error: ServiceError | null, response: Res) => void,
) => unknown;

// One unary call as a promise, with a 10 s deadline.
function call<Req, Res>(method: Unary<Req, Res>, request: Req, metadata: Metadata = auth): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, request, metadata, { deadline: new Date(Date.now() + 10_000) }, (error, response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

// The status error of a call that must fail.
async function failure<Req, Res>(method: Unary<Req, Res>, request: Req, metadata?: Metadata): Promise<ServiceError> {
  try {
    await call(method, request, metadata);
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error("the call succeeded");
}

let passed = 0;
let failed = 0;

async function check(name: string, body: () => Promise<string | void>): Promise<void> {
  try {
    const note = await body();
    passed++;
    console.log(`ok    ${name}${note ? ` (${note})` : ""}`);
  } catch (error) {
    failed++;
    console.log(`FAIL  ${name}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function expect(condition: boolean, what: string): void {
  if (!condition) throw new Error(what);
}

async function main(): Promise<void> {
  const agent = `ts-smoke-${process.pid}-${Date.now()}`;
  const content = "The TypeScript client stored this memory (ünïcödé ✓)";
  let id = "";

  await check("AddMemory stores a memory", async () => {
    const res = await call<AddMemoryRequest, AddMemoryResponse>(
      client.addMemory,
      AddMemoryRequest.fromPartial({
        memory: { agent, content, memoryType: MemoryType.MEMORY_TYPE_DECISION, tags: ["ts", "smoke"], importance: 0.75 },
      }),
    );
    const m = res.memory;
    expect(m !== undefined, "no memory in the response");
    id = m!.id;
    expect(id.startsWith("mem_"), `id ${JSON.stringify(id)} does not start with mem_`);
    expect(m!.agentId.startsWith("agent_"), `agent_id ${JSON.stringify(m!.agentId)} does not start with agent_`);
    expect(m!.content === content, `content ${JSON.stringify(m!.content)}`);
    expect(m!.memoryType === MemoryType.MEMORY_TYPE_DECISION, `memory_type ${m!.memoryType}`);
    expect(m!.importance === 0.75, `importance ${m!.importance}`);
    expect(m!.createdAt instanceof Date, "created_at is not a timestamp");
  });

  await check("ListMemories lists it back", async () => {
    const res = await call<ListMemoriesRequest, ListMemoriesResponse>(
      client.listMemories,
      ListMemoriesRequest.fromPartial({ filter: { agent }, limit: 10 }),
    );
    expect(res.memories.length === 1, `${res.memories.length} memories, want 1`);
    const m = res.memories[0]!;
    expect(m.id === id, `id ${m.id}, want ${id}`);
    expect(m.content === content, `content ${JSON.stringify(m.content)}`);
    expect(JSON.stringify(m.tags) === '["smoke","ts"]', `tags ${JSON.stringify(m.tags)}`);
    expect(!res.hasMore && res.nextPageToken === "", "has_more or a next page token on a single-item listing");
  });

  await check("AddMemory with empty content is INVALID_ARGUMENT naming the field", async () => {
    const error = await failure(client.addMemory, AddMemoryRequest.fromPartial({ memory: { agent, content: "" } }));
    expect(error.code === status.INVALID_ARGUMENT, `code ${error.code} (${error.details}), want 3`);
    expect(error.details.includes("content"), `message ${JSON.stringify(error.details)} does not name content`);
    return JSON.stringify(error.details);
  });

  await check("a call without an API key is UNAUTHENTICATED", async () => {
    const error = await failure(client.listMemories, ListMemoriesRequest.fromPartial({}), new Metadata());
    expect(error.code === status.UNAUTHENTICATED, `code ${error.code} (${error.details}), want 16`);
    return JSON.stringify(error.details);
  });
}

main()
  .catch((error: unknown) => {
    failed++;
    console.log(`FAIL  ${error instanceof Error ? error.message : String(error)}`);
  })
  .finally(() => {
    client.close();
    console.log(`ts-client smoke: ${passed} passed, ${failed} failed`);
    process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
  });
