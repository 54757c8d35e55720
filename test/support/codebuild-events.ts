/**
 * CodeBuild's EventBridge events, as AWS documents them ("Build notifications input format
 * reference", CodeBuild User Guide): the two samples below are the documentation's, unchanged.
 * `slipwayEvent` derives the events a Slipway build produces from them: the same shape, with
 * the environment overrides the CodeBuild builder sets, a status, phases and exported variables.
 */

export const DOC_STATE_CHANGE = {
  version: '0',
  id: 'c030038d-8c4d-6141-9545-00ff7b7153EX',
  'detail-type': 'CodeBuild Build State Change',
  source: 'aws.codebuild',
  account: '123456789012',
  time: '2017-09-01T16:14:28Z',
  region: 'us-west-2',
  resources: ['arn:aws:codebuild:us-west-2:123456789012:build/my-sample-project:8745a7a9-c340-456a-9166-edf953571bEX'],
  detail: {
    'build-status': 'SUCCEEDED',
    'project-name': 'my-sample-project',
    'build-id': 'arn:aws:codebuild:us-west-2:123456789012:build/my-sample-project:8745a7a9-c340-456a-9166-edf953571bEX',
    'additional-information': {
      artifact: {
        md5sum: 'da9c44c8a9a3cd4b443126e823168fEX',
        sha256sum: '6ccc2ae1df9d155ba83c597051611c42d60e09c6329dcb14a312cecc0a8e39EX',
        location: 'arn:aws:s3:::codebuild-123456789012-output-bucket/my-output-artifact.zip',
      },
      environment: {
        image: 'aws/codebuild/standard:4.0',
        'privileged-mode': false,
        'compute-type': 'BUILD_GENERAL1_SMALL',
        type: 'LINUX_CONTAINER',
        'environment-variables': [] as { name: string; value: string; type: string }[],
      },
      'timeout-in-minutes': 60,
      'build-complete': true,
      initiator: 'MyCodeBuildDemoUser',
      'build-start-time': 'Sep 1, 2017 4:12:29 PM',
      source: { location: 'codebuild-123456789012-input-bucket/my-input-artifact.zip', type: 'S3' },
      logs: {
        'group-name': '/aws/codebuild/my-sample-project',
        'stream-name': '8745a7a9-c340-456a-9166-edf953571bEX',
        'deep-link':
          'https://console.aws.amazon.com/cloudwatch/home?region=us-west-2#logEvent:group=/aws/codebuild/my-sample-project;stream=8745a7a9-c340-456a-9166-edf953571bEX',
      },
      phases: [
        phase('SUBMITTED', 'Sep 1, 2017 4:12:29 PM', 'Sep 1, 2017 4:12:29 PM', 0),
        phase('PROVISIONING', 'Sep 1, 2017 4:12:29 PM', 'Sep 1, 2017 4:13:05 PM', 36),
        phase('DOWNLOAD_SOURCE', 'Sep 1, 2017 4:13:05 PM', 'Sep 1, 2017 4:13:10 PM', 4),
        phase('INSTALL', 'Sep 1, 2017 4:13:10 PM', 'Sep 1, 2017 4:13:10 PM', 0),
        phase('PRE_BUILD', 'Sep 1, 2017 4:13:10 PM', 'Sep 1, 2017 4:13:10 PM', 0),
        phase('BUILD', 'Sep 1, 2017 4:13:10 PM', 'Sep 1, 2017 4:14:21 PM', 70),
        phase('POST_BUILD', 'Sep 1, 2017 4:14:21 PM', 'Sep 1, 2017 4:14:21 PM', 0),
        phase('UPLOAD_ARTIFACTS', 'Sep 1, 2017 4:14:21 PM', 'Sep 1, 2017 4:14:21 PM', 0),
        phase('FINALIZING', 'Sep 1, 2017 4:14:21 PM', 'Sep 1, 2017 4:14:26 PM', 4),
        { 'start-time': 'Sep 1, 2017 4:14:26 PM', 'phase-type': 'COMPLETED' } as Phase,
      ],
    },
    'current-phase': 'COMPLETED',
    'current-phase-context': '[]',
    version: '1',
  },
};

export const DOC_PHASE_CHANGE = {
  version: '0',
  id: '43ddc2bd-af76-9ca5-2dc7-b695e15adeEX',
  'detail-type': 'CodeBuild Build Phase Change',
  source: 'aws.codebuild',
  account: '123456789012',
  time: '2017-09-01T16:14:21Z',
  region: 'us-west-2',
  resources: ['arn:aws:codebuild:us-west-2:123456789012:build/my-sample-project:8745a7a9-c340-456a-9166-edf953571bEX'],
  detail: {
    'completed-phase': 'COMPLETED',
    'project-name': 'my-sample-project',
    'build-id': 'arn:aws:codebuild:us-west-2:123456789012:build/my-sample-project:8745a7a9-c340-456a-9166-edf953571bEX',
    'completed-phase-context': '[]',
    'additional-information': DOC_STATE_CHANGE.detail['additional-information'],
    'completed-phase-status': 'SUCCEEDED',
    'completed-phase-duration-seconds': 4,
    version: '1',
    'completed-phase-start': 'Sep 1, 2017 4:14:21 PM',
    'completed-phase-end': 'Sep 1, 2017 4:14:26 PM',
  },
};

export interface Phase {
  'phase-context'?: string[];
  'start-time': string;
  'end-time'?: string;
  'duration-in-seconds'?: number;
  'phase-type': string;
  'phase-status'?: string;
}

function phase(
  type: string,
  start: string,
  end: string,
  seconds: number,
  status = 'SUCCEEDED',
  context: string[] = [],
): Phase {
  return {
    'phase-context': context,
    'start-time': start,
    'end-time': end,
    'duration-in-seconds': seconds,
    'phase-type': type,
    'phase-status': status,
  };
}

/** The phases of a build that got as far as `upTo` (in progress), with `failed` failed on the way. */
export function phasesUpTo(upTo: string, failed?: { phase: string; status?: string; context: string[] }): Phase[] {
  const all = DOC_STATE_CHANGE.detail['additional-information'].phases;
  const result: Phase[] = [];
  for (const p of all) {
    if (p['phase-type'] === upTo) {
      result.push({ 'start-time': p['start-time'], 'phase-type': upTo });
      return result;
    }
    if (failed && p['phase-type'] === failed.phase) {
      result.push({ ...p, 'phase-status': failed.status ?? 'FAILED', 'phase-context': failed.context });
    } else {
      result.push({ ...p, 'phase-context': p['phase-context']?.length ? p['phase-context'] : [': '] });
    }
  }
  return result;
}

export interface SlipwayEventOptions {
  app: string;
  buildId: string;
  /** State change: the build status. */
  status?: 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED' | 'FAULT' | 'STOPPED' | 'TIMED_OUT';
  /** Phase change: the phase that completed. */
  completedPhase?: string;
  phases?: Phase[];
  exported?: Record<string, string>;
  time?: string;
}

/** A Slipway build's event: a documented sample with the builder's overrides and the given state. */
export function slipwayEvent(options: SlipwayEventOptions): Record<string, unknown> {
  const sample = structuredClone(options.completedPhase ? DOC_PHASE_CHANGE : DOC_STATE_CHANGE);
  const detail = sample.detail as Record<string, unknown>;
  const info = detail['additional-information'] as Record<string, unknown> & {
    environment: { 'environment-variables': unknown[] };
  };
  info.environment['environment-variables'] = Object.entries({
    SLIPWAY_BUILD_ID: options.buildId,
    SLIPWAY_APP: options.app,
    SLIPWAY_COMMIT: 'a'.repeat(40),
    SLIPWAY_REF: 'refs/heads/main',
    SLIPWAY_REPO_URL: 'git@gitlab.example.com:group/web.git',
    SLIPWAY_DEPLOY_KEY_CIPHERTEXT: 'kms1:AQICAHh0ZXN0LWNpcGhlcnRleHQ=',
    SLIPWAY_IMAGE_REPOSITORY: '123456789012.dkr.ecr.us-west-2.amazonaws.com/slipway/web',
  }).map(([name, value]) => ({ name, value, type: 'PLAINTEXT' }));
  if (options.exported) {
    info['exported-environment-variables'] = Object.entries(options.exported).map(([name, value]) => ({ name, value }));
  }
  if (options.phases) info.phases = options.phases;
  if (options.status) {
    detail['build-status'] = options.status;
    detail['build-complete'] = options.status !== 'IN_PROGRESS';
    info['build-complete'] = options.status !== 'IN_PROGRESS';
    if (options.status === 'IN_PROGRESS') detail['current-phase'] = 'SUBMITTED';
  }
  if (options.completedPhase) {
    detail['completed-phase'] = options.completedPhase;
    info['build-complete'] = false;
  }
  if (options.time) sample.time = options.time;
  return sample;
}
