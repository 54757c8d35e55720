import { BatchGetProjectsCommand, type CodeBuildClient } from '@aws-sdk/client-codebuild';
import { DescribeStateMachineCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { PlatformFinding, PlatformProbe } from '../../domain/ports';

export interface AwsPlatformOptions {
  codebuild: CodeBuildClient;
  sfn: SFNClient;
  /** The build project's name or ARN (`BUILD_PROJECT_ARN`). */
  buildProject: string;
  /** The release state machine (`STATE_MACHINE_ARN`). */
  stateMachineArn: string;
}

/**
 * The AWS resources a release needs, as `slipway doctor` checks them: the CodeBuild project
 * (BatchGetProjects) and the release state machine (DescribeStateMachine, ACTIVE). The calling
 * role needs `codebuild:BatchGetProjects` and `states:DescribeStateMachine` on those two.
 */
export class AwsPlatformProbe implements PlatformProbe {
  constructor(private readonly options: AwsPlatformOptions) {}

  async probe(): Promise<PlatformFinding[]> {
    return Promise.all([this.project(), this.stateMachine()]);
  }

  private async project(): Promise<PlatformFinding> {
    const base = { id: 'aws.codebuild-project', title: 'CodeBuild project' };
    const name = this.options.buildProject;
    try {
      const out = await this.options.codebuild.send(new BatchGetProjectsCommand({ names: [name] }));
      const project = out.projects?.[0];
      if (!project) {
        return {
          ...base,
          ok: false,
          detail: `CodeBuild has no project ${shortName(name)}`,
          advice: 'run cdk deploy to create the stack again',
        };
      }
      return {
        ...base,
        ok: true,
        detail: `${project.name} (${project.environment?.computeType ?? 'compute unknown'})`,
      };
    } catch (error) {
      return failed(base, `BatchGetProjects ${shortName(name)}`, error);
    }
  }

  private async stateMachine(): Promise<PlatformFinding> {
    const base = { id: 'aws.state-machine', title: 'release state machine' };
    const arn = this.options.stateMachineArn;
    try {
      const out = await this.options.sfn.send(new DescribeStateMachineCommand({ stateMachineArn: arn }));
      if (out.status !== 'ACTIVE') {
        return {
          ...base,
          ok: false,
          detail: `${out.name ?? shortName(arn)} is ${out.status ?? 'in no known state'}`,
          advice: 'run cdk deploy to create the stack again',
        };
      }
      return { ...base, ok: true, detail: `${out.name} is ACTIVE` };
    } catch (error) {
      if ((error as Error).name === 'StateMachineDoesNotExist') {
        return {
          ...base,
          ok: false,
          detail: `Step Functions has no state machine ${shortName(arn)}`,
          advice: 'run cdk deploy to create the stack again',
        };
      }
      return failed(base, `DescribeStateMachine ${shortName(arn)}`, error);
    }
  }
}

function shortName(nameOrArn: string): string {
  return nameOrArn.split(/[:/]/).at(-1) ?? nameOrArn;
}

function failed(base: { id: string; title: string }, call: string, error: unknown): PlatformFinding {
  const name = (error as Error).name;
  const denied = name === 'AccessDeniedException' || name === 'AccessDenied';
  return {
    ...base,
    ok: false,
    detail: `${call} failed: ${name}${denied ? '' : `: ${(error as Error).message}`}`.slice(0, 300),
    advice: denied
      ? 'grant the admin function codebuild:BatchGetProjects and states:DescribeStateMachine (cdk deploy)'
      : 'try again; if it persists, check the AWS service health',
  };
}
