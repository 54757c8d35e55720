/** Everything a build needs, none of it secret in plaintext (the deploy key is vault ciphertext). */
export interface BuildJob {
  buildId: string;
  app: string;
  commit: string;
  ref: string;
  /** SSH clone URL. */
  repoUrl: string;
  /** Vault ciphertext of the deploy key (purpose `deploy-key`, this app): decrypted inside the build only. */
  deployKeyCiphertext: string;
  /** Pinned known_hosts text for the GitLab host. */
  knownHosts: string;
  /** Image repository the build pushes to (ECR URI on AWS, a local name in local mode). */
  imageRepository: string;
  /** Dockerfile path in the repo when there is no docker-compose.yml. */
  dockerfile: string;
}

/** What a finished build reports. */
export interface BuildOutcome {
  status: 'succeeded' | 'failed';
  /** Image digests by compose service, or `app` for a single Dockerfile. */
  images: Record<string, string>;
  /** The failing step, when failed (e.g. `fetch: git fetch …`). */
  reason?: string;
}

/**
 * Runs builds: CodeBuild on AWS (status flows back through build-state events), the same
 * buildspec run by the local runner in local mode. `start` returns a reference to the run and
 * where its log is.
 */
export interface Builder {
  start(job: BuildJob): Promise<{ ref: string; logLocation: string }>;
  /** Stops a build that is no longer wanted (superseded); a build already ended is left alone. */
  cancel?(ref: string, reason: string): Promise<void>;
  /**
   * Asks the builder how a run stands (CodeBuild BatchGetBuilds; the local runner's memory).
   * Only for the one recheck after a wait timed out: builds report their end by events.
   */
  describe?(ref: string): Promise<BuildRunState>;
}

/** How a run stands when asked: still running, or ended as it would have reported. */
export type BuildRunState =
  | { status: 'running' }
  | { status: 'succeeded' | 'failed' | 'canceled'; images?: Record<string, string>; reason?: string };

/** Image repositories, one per app. */
export interface Registry {
  /** Creates the app's repository if missing (immutable tags, scan on push, lifecycle) and returns its URI. */
  ensureRepository(app: string): Promise<string>;
}

/** Reads a build's log from where the builder wrote it, from a cursor on. */
export interface BuildLogs {
  read(logLocation: string, cursor?: string): Promise<{ lines: string[]; cursor: string }>;
}
