// npm run validate:k8s — renders every kustomization under deploy/k8s (the base and each overlay) with
// `kubectl kustomize` and checks every object it produces, offline:
//
//   1. schema: the kubernetes-models class of the object's apiVersion/kind validates it (types, required
//      fields, enums, formats) — @kubernetes-models/prometheus-operator for ServiceMonitor;
//   2. unknown fields: that validation lets unknown keys through (a typo such as `readinesProbe` or a field at
//      the wrong level would be silently dropped by the API server), so every key of the object is walked
//      against the model's TypeScript declaration (the .d.ts of the same class), read with the TypeScript
//      compiler: a key the declared type does not have is an error;
//   3. consistency of this service's manifests: references (ConfigMap, Secret, ServiceAccount, HPA target)
//      resolve, Service/PDB selectors select pods, probes use declared ports, the rolling update and security
//      settings the issue asks for, and a termination grace period longer than the whole drain.
//
// Usage: node scripts/validate-k8s.mjs [kustomization dir…]   (default: deploy/k8s/base and deploy/k8s/overlays/*)
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// ---- which kustomizations: the base and every overlay (not their inner parts such as base/app) ------------
function deployables() {
  const k8s = join(root, 'deploy', 'k8s');
  const overlays = join(k8s, 'overlays');
  const dirs = [join(k8s, 'base')];
  if (existsSync(overlays)) {
    for (const entry of readdirSync(overlays).sort()) {
      if (statSync(join(overlays, entry)).isDirectory()) dirs.push(join(overlays, entry));
    }
  }
  return dirs;
}

const args = process.argv.slice(2);
const targets = args.length > 0 ? args : deployables();

function kubectl() {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return 'kubectl';
  } catch {
    if (process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
      console.log('kubectl not found: installing it (apt-get install kubectl)');
      execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'kubectl'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      return 'kubectl';
    }
    throw new Error('kubectl is needed (kubectl kustomize renders the manifests)');
  }
}
const KUBECTL = kubectl();

function render(dir) {
  const out = execFileSync(KUBECTL, ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const objects = [];
  for (const doc of parseAllDocuments(out)) {
    if (doc.errors.length > 0) throw new Error(`YAML from kubectl kustomize ${dir}: ${doc.errors[0].message}`);
    const value = doc.toJS();
    if (value) objects.push(value);
  }
  return objects;
}

// ---- 1. the models ------------------------------------------------------------------------------------------
/** The module of the kubernetes-models class for an apiVersion/kind. */
function modelModule(apiVersion, kind) {
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

async function loadModel(apiVersion, kind) {
  const specifier = modelModule(apiVersion, kind);
  let url;
  try {
    url = import.meta.resolve(specifier);
  } catch {
    return undefined;
  }
  const module = await import(url);
  return { Class: module[kind], dts: fileURLToPath(url).replace(/\.js$/, '.d.ts') };
}

// ---- 2. unknown fields, from the models' declarations -------------------------------------------------------
function makeShapeChecker(dtsFiles) {
  const program = ts.createProgram(dtsFiles, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const typeOf = (symbol) =>
    checker.getTypeOfSymbol ? checker.getTypeOfSymbol(symbol) : checker.getTypeOfSymbolAtLocation(symbol, symbol.valueDeclaration);

  /** The declared interface I<Kind> of a model's .d.ts. */
  function rootType(dts, kind) {
    const source = program.getSourceFile(dts);
    const moduleSymbol = source && checker.getSymbolAtLocation(source);
    const symbol = moduleSymbol && checker.getExportsOfModule(moduleSymbol).find((s) => s.name === `I${kind}`);
    return symbol && checker.getDeclaredTypeOfSymbol(symbol);
  }

  const isOpen = (type) => (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) !== 0;
  const isObjectLike = (type) => isOpen(type) || (type.flags & ts.TypeFlags.Object) !== 0 || type.isIntersection();

  /** Appends to `errors` every key of `value` that `type` does not declare, recursively. */
  function walk(value, type, path, errors) {
    if (value === null || typeof value !== 'object') return;
    type = checker.getNonNullableType(type);
    if (isOpen(type)) return;
    if (type.isUnion()) {
      const candidates = type.types.filter(isObjectLike);
      if (candidates.length === 0) {
        errors.push(`${path}: an object or array where the schema has ${checker.typeToString(type)}`);
        return;
      }
      let best;
      for (const candidate of candidates) {
        const found = [];
        walk(value, candidate, path, found);
        if (!best || found.length < best.length) best = found;
      }
      errors.push(...best);
      return;
    }
    if (Array.isArray(value)) {
      const element = type.getNumberIndexType();
      if (!element) errors.push(`${path}: an array where the schema has ${checker.typeToString(type)}`);
      else value.forEach((item, i) => walk(item, element, `${path}[${i}]`, errors));
      return;
    }
    const index = type.getStringIndexType();
    for (const [key, item] of Object.entries(value)) {
      const property = type.getProperty(key);
      if (property) walk(item, typeOf(property), `${path}.${key}`, errors);
      else if (index) walk(item, index, `${path}.${key}`, errors);
      else errors.push(`${path}.${key}: unknown field (not in ${checker.typeToString(type)})`);
    }
  }
  return { rootType, walk };
}

// ---- 3. this service's rules -------------------------------------------------------------------------------
const matches = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
const key = (o) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;

function durationOf(config, name, fallback) {
  const value = Number(config?.[name]);
  return Number.isFinite(value) && config?.[name] !== undefined ? value : fallback;
}

function checkRules(objects) {
  const problems = [];
  const external = new Set();
  const byKind = (kind) => objects.filter((o) => o.kind === kind);
  const named = (kind, name) => objects.find((o) => o.kind === kind && o.metadata?.name === name);
  const podOwners = [...byKind('Deployment'), ...byKind('Job')];

  for (const owner of podOwners) {
    const where = key(owner);
    const pod = owner.spec?.template?.spec ?? {};
    const podLabels = owner.spec?.template?.metadata?.labels ?? {};
    if (owner.kind === 'Deployment' && !matches(owner.spec?.selector?.matchLabels, podLabels)) {
      problems.push(`${where}: selector does not match its pod template's labels`);
    }
    if (pod.serviceAccountName && !named('ServiceAccount', pod.serviceAccountName)) {
      problems.push(`${where}: ServiceAccount ${pod.serviceAccountName} is not in the render`);
    }
    const psc = pod.securityContext ?? {};
    if (psc.runAsNonRoot !== true) problems.push(`${where}: pod securityContext.runAsNonRoot is not true`);
    if (psc.seccompProfile?.type !== 'RuntimeDefault') problems.push(`${where}: seccompProfile is not RuntimeDefault`);
    const volumes = new Set((pod.volumes ?? []).map((v) => v.name));
    let config;
    for (const c of pod.containers ?? []) {
      const cw = `${where} container ${c.name}`;
      const sc = c.securityContext ?? {};
      if (sc.readOnlyRootFilesystem !== true) problems.push(`${cw}: readOnlyRootFilesystem is not true`);
      if (sc.allowPrivilegeEscalation !== false) problems.push(`${cw}: allowPrivilegeEscalation is not false`);
      if (!(sc.capabilities?.drop ?? []).includes('ALL')) problems.push(`${cw}: capabilities do not drop ALL`);
      if (!c.resources?.limits?.memory || !c.resources?.limits?.cpu) problems.push(`${cw}: no cpu/memory limits`);
      if (!(c.volumeMounts ?? []).some((m) => m.mountPath === '/tmp')) problems.push(`${cw}: no writable /tmp on a read-only root`);
      for (const m of c.volumeMounts ?? []) if (!volumes.has(m.name)) problems.push(`${cw}: mounts unknown volume ${m.name}`);
      for (const source of c.envFrom ?? []) {
        if (source.configMapRef) {
          const cm = named('ConfigMap', source.configMapRef.name);
          if (!cm) problems.push(`${cw}: ConfigMap ${source.configMapRef.name} is not in the render`);
          else config = { ...config, ...cm.data };
        }
        if (source.secretRef && !named('Secret', source.secretRef.name)) external.add(`Secret ${source.secretRef.name} (created out of band)`);
      }
      if (owner.kind !== 'Deployment') continue;
      const ports = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
      for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
        const port = c[probe]?.httpGet?.port;
        if (!c[probe]) problems.push(`${cw}: no ${probe}`);
        else if (c[probe].grpc) {
          // A native gRPC probe (grpc.health.v1) checks readiness on the gRPC port; liveness must not depend on it.
          if (probe === 'livenessProbe') problems.push(`${cw}: livenessProbe is a gRPC probe (health follows readiness: an outage would restart pods)`);
          if (c[probe].grpc.port !== ports.get('grpc')) problems.push(`${cw}: ${probe} probes port ${c[probe].grpc.port}, not the grpc port`);
          if (config?.GRPC_PORT === undefined || Number(config.GRPC_PORT) !== ports.get('grpc')) problems.push(`${cw}: ${probe} is a gRPC probe but GRPC_PORT is not the grpc port`);
        } else if (typeof port === 'string' && !ports.has(port)) problems.push(`${cw}: ${probe} uses undeclared port ${port}`);
        else if (ports.get('management') !== undefined && port !== 'management' && port !== ports.get('management')) {
          problems.push(`${cw}: ${probe} is not on the management port`);
        }
      }
      if (config?.MANAGEMENT_PORT !== undefined && Number(config.MANAGEMENT_PORT) !== ports.get('management')) {
        problems.push(`${cw}: MANAGEMENT_PORT=${config.MANAGEMENT_PORT} but the management port is ${ports.get('management')}`);
      }
      if (config?.GRPC_PORT !== undefined && Number(config.GRPC_PORT) !== ports.get('grpc')) {
        problems.push(`${cw}: GRPC_PORT=${config.GRPC_PORT} but the grpc port is ${ports.get('grpc')}`);
      }
      if (config?.PORT !== undefined && Number(config.PORT) !== ports.get('http')) {
        problems.push(`${cw}: PORT=${config.PORT} but the http port is ${ports.get('http')}`);
      }
      // SIGKILL must not come before the service is done: preStop + readiness delay + drain + 2 s backstop.
      const preStop = c.lifecycle?.preStop?.sleep?.seconds ?? 0;
      const drain = preStop + (durationOf(config, 'SHUTDOWN_DELAY_MS', 0) + durationOf(config, 'SHUTDOWN_TIMEOUT_MS', 10000) + 2000) / 1000;
      const grace = pod.terminationGracePeriodSeconds ?? 30;
      if (grace <= drain) problems.push(`${cw}: terminationGracePeriodSeconds ${grace} is not above the drain time ${drain} s`);
    }
    if (owner.kind === 'Deployment') {
      const ru = owner.spec?.strategy?.rollingUpdate;
      if (owner.spec?.strategy?.type !== 'RollingUpdate' || ru?.maxUnavailable !== 0 || ru?.maxSurge !== 1) {
        problems.push(`${where}: strategy is not RollingUpdate maxUnavailable 0 / maxSurge 1`);
      }
    }
  }

  const deployments = byKind('Deployment');
  const selects = (selector, ns) =>
    deployments.some((d) => d.metadata?.namespace === ns && matches(selector, d.spec?.template?.metadata?.labels));
  for (const svc of byKind('Service')) {
    if (!selects(svc.spec?.selector, svc.metadata?.namespace)) problems.push(`${key(svc)}: selects no pod of any Deployment`);
    for (const p of svc.spec?.ports ?? []) {
      const named = deployments.some((d) => (d.spec?.template?.spec?.containers ?? []).some((c) => (c.ports ?? []).some((cp) => cp.name === p.targetPort || cp.containerPort === p.targetPort)));
      if (!named) problems.push(`${key(svc)}: targetPort ${p.targetPort} is no container port`);
    }
  }
  for (const pdb of byKind('PodDisruptionBudget')) {
    if (!selects(pdb.spec?.selector?.matchLabels, pdb.metadata?.namespace)) problems.push(`${key(pdb)}: selects no pod`);
  }
  for (const hpa of byKind('HorizontalPodAutoscaler')) {
    const ref = hpa.spec?.scaleTargetRef;
    if (!objects.some((o) => o.kind === ref?.kind && o.metadata?.name === ref?.name)) problems.push(`${key(hpa)}: target ${ref?.kind}/${ref?.name} is not in the render`);
  }
  for (const sm of byKind('ServiceMonitor')) {
    const ok = byKind('Service').some((s) => matches(sm.spec?.selector?.matchLabels, s.metadata?.labels) &&
      (sm.spec?.endpoints ?? []).every((e) => (s.spec?.ports ?? []).some((p) => p.name === e.port)));
    if (!ok) problems.push(`${key(sm)}: selects no Service with its endpoint ports`);
  }
  return { problems, external: [...external] };
}

// ---- run ---------------------------------------------------------------------------------------------------
const rendered = [];
let failures = 0;
for (const dir of targets) {
  const name = relative(root, dir) || '.';
  try {
    rendered.push({ dir: name, objects: render(dir) });
  } catch (error) {
    failures++;
    console.log(`FAIL  ${name}: kubectl kustomize failed\n  ${String(error.stderr || error.message).trim()}`);
  }
}

const models = new Map();
for (const { objects } of rendered) {
  for (const o of objects) {
    const id = `${o.apiVersion} ${o.kind}`;
    if (!models.has(id)) models.set(id, await loadModel(o.apiVersion, o.kind));
  }
}
const shapes = makeShapeChecker([...models.values()].filter(Boolean).map((m) => m.dts));

let checked = 0;
for (const { dir, objects } of rendered) {
  const lines = [];
  for (const o of objects) {
    const id = `${o.kind}/${o.metadata?.name}`;
    const model = models.get(`${o.apiVersion} ${o.kind}`);
    if (!model?.Class) {
      lines.push(`  ${id}: no schema for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    checked++;
    try {
      new model.Class(o).validate();
    } catch (error) {
      lines.push(`  ${id}: ${String(error.message).split('\n').join('\n    ')}`);
    }
    const type = shapes.rootType(model.dts, o.kind);
    if (!type) {
      lines.push(`  ${id}: no declaration I${o.kind} in ${relative(root, model.dts)}`);
      continue;
    }
    const unknown = [];
    shapes.walk(o, type, o.kind, unknown);
    for (const u of unknown) lines.push(`  ${id}: ${u}`);
  }
  const { problems, external } = checkRules(objects);
  for (const p of problems) lines.push(`  ${p}`);
  const kinds = objects.map((o) => o.kind).reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map());
  const summary = [...kinds].map(([k, n]) => (n > 1 ? `${n} ${k}` : k)).join(', ');
  if (lines.length === 0) {
    console.log(`ok    ${dir}: ${objects.length} objects (${summary})${external.length ? `; expects ${external.join(', ')}` : ''}`);
  } else {
    failures++;
    console.log(`FAIL  ${dir}: ${lines.length} problem(s)\n${lines.join('\n')}`);
  }
}
console.log(`validate-k8s: ${checked} objects in ${targets.length} kustomizations`);
console.log(`${targets.length - failures} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
