// The Kubernetes manifests (deploy/k8s) and their validator (scripts/validate-k8s.mjs): every overlay renders
// and validates, and the validator does catch what the models' own validation lets through (unknown fields),
// wrong types and a grace period shorter than the drain. Skipped where kubectl is not installed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '..', '..');
const validator = join(root, 'scripts', 'validate-k8s.mjs');
const hasKubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;

function validate(...dirs: string[]) {
  return spawnSync(process.execPath, [validator, ...dirs], { cwd: root, encoding: 'utf8' });
}

test('every overlay renders and validates', { skip: !hasKubectl && 'kubectl not installed' }, () => {
  const run = validate();
  assert.equal(run.status, 0, run.stdout + run.stderr);
  for (const overlay of ['base', 'overlays/production', 'overlays/servicemonitor', 'overlays/canary', 'overlays/grpc']) {
    assert.match(run.stdout, new RegExp(`^ok +deploy/k8s/${overlay}:`, 'm'));
  }
});

test('unknown fields, wrong types and a short grace period are errors', { skip: !hasKubectl && 'kubectl not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'todo-k8s-'));
  try {
    const overlay = relative(dir, join(root, 'deploy', 'k8s', 'overlays', 'servicemonitor'));
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ${overlay}
patches:
  - target: {kind: Deployment, name: todo-service}
    patch: |-
      - {op: add, path: /spec/template/spec/containers/0/readinesProbe, value: {httpGet: {path: /readyz, port: management}}}
      - {op: add, path: /spec/template/spec/securityContext/runAsNonroot, value: true}
      - {op: replace, path: /spec/replicas, value: two}
      - {op: replace, path: /spec/template/spec/terminationGracePeriodSeconds, value: 15}
  - target: {kind: ServiceMonitor}
    patch: |-
      - {op: add, path: /spec/endpoints/0/intervall, value: 30s}
`,
    );
    const run = validate(dir);
    assert.equal(run.status, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /containers\[0\]\.readinesProbe: unknown field/);
    assert.match(run.stdout, /securityContext\.runAsNonroot: unknown field/);
    assert.match(run.stdout, /spec\/replicas must be integer/);
    assert.match(run.stdout, /endpoints\[0\]\.intervall: unknown field/);
    assert.match(run.stdout, /terminationGracePeriodSeconds 15 is not above the drain time/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
