// prom-client's default collectors, one module each (runtime-metrics.ts composes them): each registers its
// metrics on the registry it is given. prom-client types only its package entry point.
declare module 'prom-client/lib/metrics/*.js' {
  import type { Registry } from 'prom-client';

  const collect: (registry: Registry, config: { register: Registry; eventLoopMonitoringPrecision: number }) => void;
  export default collect;
}
