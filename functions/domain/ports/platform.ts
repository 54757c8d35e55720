/**
 * What the deployment runs on, as `slipway doctor` checks it: the CodeBuild project and the state
 * machine on AWS; locally the workflow definition, the buildspec and the docker CLI. Each finding
 * is a fact with what to do about it; the adapter classifies its own errors.
 */
export interface PlatformProbe {
  probe(): Promise<PlatformFinding[]>;
}

export interface PlatformFinding {
  /** Stable id, e.g. `aws.codebuild-project`, `local.docker`. */
  id: string;
  title: string;
  ok: boolean;
  /** One line: what was found. */
  detail: string;
  /** One line: what to do, when not ok. */
  advice?: string;
}
