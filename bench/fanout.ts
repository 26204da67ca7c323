/**
 * `npm run bench:fanout`: does a pool with many `seatUsageChanged` subscribers slow everyone else?
 * One server (its own process, as `npm start` runs it) on the embedded database; BENCH_SUBSCRIBERS
 * subscriptions (default 1,000, spread over co-administrators' connections within the per-connection
 * and per-account limits) on one organization's pool. A probe client sends a small authenticated
 * query (`{ me { id } }`) one after another in four phases: idle and with members acquiring and
 * releasing seats in that pool at BENCH_CHANGES_PER_SECOND (default 10), each before the
 * subscriptions exist and again with them. Prints and writes (bench/results/) the probe's p50/p99
 * per phase and the ratios (the aim: with subscribers and changes within 2× of idle), seat changes
 * made and pushes received. BENCH_SECONDS per phase (default 15).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { projectRoot } from '../src/platform/paths';
import { MAX_SUBSCRIPTIONS_PER_CONNECTION } from '../src/server';
import { BENCH_SHOP_TOKEN, gql, startBenchServer } from './server';

const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const CHANGERS = 8;
const CHANGES_PER_SECOND = Number(process.env.BENCH_CHANGES_PER_SECOND ?? 10);
const PER_ADMIN = 100; // two connections of 50 each: within the per-account limit of 200
const PASSWORD = 'bench passphrase for fan-out';

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] * 100) / 100 : NaN;
}

async function probe(url: string, token: string, until: number): Promise<number[]> {
  const samples: number[] = [];
  while (Date.now() < until) {
    const started = process.hrtime.bigint();
    await gql(url, token, '{ me { id } }');
    samples.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return samples;
}

async function main(): Promise<void> {
  const bench = await startBenchServer('fanout');
  const { url, admin } = bench;
  let worker: Worker | undefined;
  try {
    const register = async (label: string) => {
      const email = `fanout-${label}-${randomUUID().slice(0, 8)}@example.com`;
      const d = await gql(url, undefined, 'mutation($i: RegisterInput!) { register(input: $i) { token account { id userId } } }', {
        i: { email, password: PASSWORD, name: `Fan-out ${label}`, language: 'EN' },
      });
      await admin.query('UPDATE accounts SET email_verified_at = now() WHERE id = $1', [d.register.account.id]);
      return d.register as { token: string; account: { id: string; userId: string } };
    };
    const owner = await register('owner');
    await gql(url, BENCH_SHOP_TOKEN, 'mutation($i: IssueLicenseInput!) { issueLicense(input: $i) { errors { code } } }', {
      i: {
        type: 'COMMERCIAL',
        seats: CHANGERS,
        platforms: ['WINDOWS', 'MAC'],
        purchaserEmail: 'shop@example.com',
        orderReference: `fanout-${randomUUID()}`,
        redeemForUserId: owner.account.userId,
      },
    });
    const org = (await gql(url, owner.token, 'mutation { createOrganization(input: {name: "Fan-out"}) { organization { id inviteCode } } }')).createOrganization
      .organization as { id: string; inviteCode: string };
    const join = (token: string) =>
      gql(url, token, 'mutation($c: String!) { redeemCode(code: $c) { membership { id } errors { code } } }', { c: org.inviteCode });
    const changers = await Promise.all(Array.from({ length: CHANGERS }, (_, i) => register(`changer-${i}`)));
    for (const c of changers) await join(c.token);
    // Co-administrators, each holding PER_ADMIN subscriptions over connections of at most 50.
    const admins = [owner];
    for (let i = 1; i < Math.ceil(SUBSCRIBERS / PER_ADMIN); i++) {
      const a = await register(`admin-${i}`);
      const membership = (await join(a.token)).redeemCode.membership.id as string;
      await gql(url, owner.token, 'mutation($i: SetMemberAdminInput!) { setMemberAdmin(input: $i) { errors { code } } }', {
        i: { membershipId: membership, admin: true },
      });
      admins.push(a);
    }
    const prober = await register('probe');
    // Seat changes at a steady rate, spread over the changers (each acquire, then release).
    const changeFor = async (until: number): Promise<number> => {
      let changes = 0;
      const gap = (1000 * CHANGERS * 2) / CHANGES_PER_SECOND;
      await Promise.all(
        changers.map(async (c, i) => {
          await new Promise((r) => setTimeout(r, (gap / CHANGERS) * i));
          while (Date.now() < until) {
            const started = Date.now();
            const a = await gql(url, c.token, 'mutation($i: AcquireSeatInput!) { acquireSeat(input: $i) { lease { id } } }', {
              i: { deviceId: `fan-${i}`, platform: 'WINDOWS' },
            });
            const id = a.acquireSeat.lease?.id as string | undefined;
            if (id) await gql(url, c.token, 'mutation($i: ReleaseSeatInput!) { releaseSeat(input: $i) { lease { id } } }', { i: { leaseId: id } });
            changes += id ? 2 : 0;
            await new Promise((r) => setTimeout(r, Math.max(0, gap - (Date.now() - started))));
          }
        }),
      );
      return changes;
    };
    const phase = async (changing: boolean) => {
      const until = Date.now() + SECONDS * 1000;
      const [samples, changes] = await Promise.all([probe(url, prober.token, until), changing ? changeFor(until) : Promise.resolve(0)]);
      return { probes: samples.length, p50ms: percentile(samples, 50), p99ms: percentile(samples, 99), seatChanges: changes };
    };
    await probe(url, prober.token, Date.now() + 3000); // warm-up (JIT, connections)
    const idleAlone = await phase(false);
    const changesAlone = await phase(true);
    // The subscribers live in a worker thread (see fanout-subscribers.ts).
    const connections = admins.flatMap((a, ai) => {
      const mine = Math.max(0, Math.min(PER_ADMIN, SUBSCRIBERS - ai * PER_ADMIN));
      return Array.from({ length: Math.ceil(mine / MAX_SUBSCRIPTIONS_PER_CONNECTION) }, (_, c) => ({
        token: a.token,
        subscriptions: Math.min(MAX_SUBSCRIPTIONS_PER_CONNECTION, mine - c * MAX_SUBSCRIPTIONS_PER_CONNECTION),
      }));
    });
    worker = new Worker(path.join(__dirname, 'fanout-subscribers.js'), { workerData: { url, organizationId: org.id, connections } });
    const asked = (message: string) =>
      new Promise<Record<string, number>>((resolve) => {
        worker!.once('message', (m: Record<string, number>) => resolve(m));
        worker!.postMessage(message);
      });
    const { subscribed, refused } = await new Promise<Record<string, number>>((resolve, reject) => {
      worker!.once('message', (m: Record<string, number>) => resolve(m));
      worker!.once('error', reject);
    });
    console.log(`${subscribed} subscriptions on one pool (${refused} refused), in a worker thread`);

    const idleWith = await phase(false);
    const pushesBefore = (await asked('pushes')).pushes;
    const changesWith = { ...(await phase(true)), pushesReceived: 0 };
    changesWith.pushesReceived = (await asked('pushes')).pushes - pushesBefore;
    const result = {
      when: new Date().toISOString(),
      machine: `${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
      subscribers: subscribed,
      refused,
      seconds: SECONDS,
      changesPerSecond: CHANGES_PER_SECOND,
      phases: { idleAlone, changesAlone, idleWith, changesWith },
      // The aim: with the subscribers and the changes, within 2× of idle.
      ratioP50: Math.round((changesWith.p50ms / idleAlone.p50ms) * 100) / 100,
      ratioP99: Math.round((changesWith.p99ms / idleAlone.p99ms) * 100) / 100,
      // The same against idle with the subscribers connected (what they cost at rest excluded).
      ratioToIdleWithP50: Math.round((changesWith.p50ms / idleWith.p50ms) * 100) / 100,
      ratioToIdleWithP99: Math.round((changesWith.p99ms / idleWith.p99ms) * 100) / 100,
      // What the subscribers themselves add, against the same changes without them.
      subscribersCostP50: Math.round((changesWith.p50ms / changesAlone.p50ms) * 100) / 100,
    };
    console.log(JSON.stringify(result, null, 2));
    const file = path.join(projectRoot(), 'bench', 'results', `fanout-${result.when.replace(/[:.]/g, '-')}.json`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
    console.log(`written to ${path.relative(projectRoot(), file)}`);
  } finally {
    worker?.postMessage('stop');
    await bench.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
