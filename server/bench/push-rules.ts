/**
 * Push rule evaluation cost per event for a room of BENCH_MEMBERS (default 1,000) members,
 * in process: the ruleset of each recipient is built as the worker builds it (defaults, plus
 * ten custom rules for one member in ten), then every recipient is evaluated. Database work
 * (loading members and rules, storing one row per notified member) is not included.
 * Run: sh scripts/node.sh server/bench/push-rules.ts   Writes bench/results/push-rules.{json,md}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { evaluateForRecipients, type EventJson } from '../src/matrix/push/evaluator.ts';
import { emptyRules, putRule, rulesForEvaluation, type StoredRules } from '../src/matrix/push/rule-set.ts';

const members = Number(process.env.BENCH_MEMBERS ?? 1000);
const events = Number(process.env.BENCH_EVENTS ?? 200);
const users = Array.from({ length: members }, (_, i) => `@user${i}:example.org`);
const stored = new Map<string, StoredRules>();
for (let i = 0; i < members; i += 10) {
  let s = emptyRules();
  for (let k = 0; k < 10; k++) s = putRule(s, 'override', `r${k}`, { actions: ['notify'], conditions: [{ kind: 'event_match', key: 'content.body', pattern: `mot${k}*` }] }, {});
  stored.set(users[i]!, s);
}
const sample = (n: number): EventJson => ({
  type: 'm.room.message',
  sender: users[n % members]!,
  room_id: '!room:example.org',
  content: { msgtype: 'm.text', body: `message ${n} pour la cellule de crise`, ...(n % 5 === 0 ? { 'm.mentions': { user_ids: [users[(n + 1) % members]] } } : {}) },
});

const perEvent: number[] = [];
let notified = 0;
const load = loadavg()[0]!;
const cpu0 = process.cpuUsage();
for (let e = 0; e < events; e++) {
  const ev = sample(e);
  const t0 = performance.now();
  // As the worker does (room-context.ts): rulesets loaded, then one call for all recipients.
  const rules = new Map(users.map((u) => [u, rulesForEvaluation(stored.get(u))]));
  const recipients = users.filter((u) => u !== ev.sender);
  const outcomes = evaluateForRecipients(recipients, (u) => rules.get(u)!, ev, { memberCount: members, senderPowerLevel: 0, notificationLevels: { room: 50 } });
  for (const { outcome } of outcomes) if (outcome.notify) notified++;
  perEvent.push(performance.now() - t0);
}
const cpu = process.cpuUsage(cpu0);
perEvent.sort((a, b) => a - b);
const pct = (p: number) => perEvent[Math.min(perEvent.length - 1, Math.floor((p / 100) * perEvent.length))]!;
// CPU time per event is what the machine's load inflates least; wall-clock figures go with the load average.
const result = {
  members,
  events,
  notifiedPerEvent: notified / events,
  msPerEvent: { p50: pct(50), p95: pct(95), max: perEvent.at(-1)! },
  cpuMsPerEvent: (cpu.user + cpu.system) / 1000 / events,
  loadAverage1m: load,
};
const out = path.resolve(import.meta.dirname, 'results');
mkdirSync(out, { recursive: true });
writeFileSync(path.join(out, 'push-rules.json'), `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(
  path.join(out, 'push-rules.md'),
  `# Push rule evaluation\n\n${members} members, ${events} events (rulesets built per event, as the worker does per batch).\n\n` +
    `| p50 ms/event | p95 ms/event | max ms/event | CPU ms/event | load average (1 min) |\n|---|---|---|---|---|\n` +
    `| ${result.msPerEvent.p50.toFixed(2)} | ${result.msPerEvent.p95.toFixed(2)} | ${result.msPerEvent.max.toFixed(2)} | ${result.cpuMsPerEvent.toFixed(2)} | ${load.toFixed(2)} |\n`,
);
console.log(JSON.stringify(result));
