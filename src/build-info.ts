// Build information written by scripts/build-info.mjs at build time (version, git commit, commit time,
// dirty flag). The JSON is bundled into the production build; "unknown" when built outside a git checkout.
import info from './generated/build-info.json' with { type: 'json' };

export interface BuildInfo {
  version: string;
  commit: string;
  commit_time: string;
  dirty: boolean | 'unknown';
}

export const buildInfo: BuildInfo = info;
