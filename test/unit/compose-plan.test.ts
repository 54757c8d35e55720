import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { nulRecords, PlanError, planBuild, planImages } from '../../functions/build/compose-plan';

describe('planning the images of a repository', () => {
  const base = mkdtempSync(join(tmpdir(), 'slipway-plan-'));
  let n = 0;

  afterAll(() => rmSync(base, { recursive: true, force: true }));

  /** A repository folder with these files (content '' makes an empty file). */
  function repo(files: Record<string, string>): string {
    const root = join(base, `repo-${++n}`);
    mkdirSync(root);
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), content);
    }
    return root;
  }

  it('makes one image per Compose service with a build: context, dockerfile, args (map and list) and target', () => {
    const root = repo({
      'docker-compose.yml': `
services:
  api:
    build:
      context: ./api
      dockerfile: Dockerfile.prod
      target: prod
      args:
        NODE_ENV: production
        VERSION: 1.2
        FROM_ENVIRONMENT:
  web:
    build: ./web
  worker:
    build:
      args:
        - MODE=worker
        - EQUALS=a=b
        - NO_VALUE
  db:
    image: postgres:16
  cache:
`,
      'api/Dockerfile.prod': '',
      'web/Dockerfile': '',
      Dockerfile: '',
    });

    expect(planBuild(root, 'Dockerfile')).toEqual({
      source: 'compose',
      composeFile: 'docker-compose.yml',
      images: [
        {
          service: 'api',
          context: 'api',
          dockerfile: 'api/Dockerfile.prod',
          args: { NODE_ENV: 'production', VERSION: '1.2' },
          target: 'prod',
        },
        { service: 'web', context: 'web', dockerfile: 'web/Dockerfile', args: {} },
        { service: 'worker', context: '.', dockerfile: 'Dockerfile', args: { MODE: 'worker', EQUALS: 'a=b' } },
      ],
    });
  });

  it('reads the Compose file Compose would: compose.yaml over compose.yml over docker-compose.yml over docker-compose.yaml', () => {
    const services = (name: string) => `services:\n  ${name}:\n    build: .\n`;
    const all = {
      'compose.yaml': services('a'),
      'compose.yml': services('b'),
      'docker-compose.yml': services('c'),
      'docker-compose.yaml': services('d'),
      Dockerfile: '',
    };
    expect(planImages(repo(all), 'Dockerfile').map((i) => i.service)).toEqual(['a']);
    const { 'compose.yaml': _a, ...withoutA } = all;
    expect(planImages(repo(withoutA), 'Dockerfile').map((i) => i.service)).toEqual(['b']);
    const { 'compose.yml': _b, ...withoutB } = withoutA;
    expect(planImages(repo(withoutB), 'Dockerfile').map((i) => i.service)).toEqual(['c']);
    const { 'docker-compose.yml': _c, ...onlyD } = withoutB;
    expect(planBuild(repo(onlyD), 'Dockerfile').composeFile).toBe('docker-compose.yaml');
  });

  it('resolves a build dockerfile from its context, and contexts from the Compose file', () => {
    const root = repo({
      'compose.yaml':
        'services:\n  api:\n    build:\n      context: services/api/../api\n      dockerfile: ../../docker/api.Dockerfile\n',
      'services/api/main.go': '',
      'docker/api.Dockerfile': '',
    });
    expect(planImages(root, 'Dockerfile')).toEqual([
      { service: 'api', context: 'services/api', dockerfile: 'docker/api.Dockerfile', args: {} },
    ]);
  });

  it('refuses contexts and Dockerfiles outside the repository, also through a symbolic link', () => {
    const outside = repo({ Dockerfile: '' });
    const up = repo({ 'compose.yaml': 'services:\n  api:\n    build: ..\n' });
    expect(() => planImages(up, 'Dockerfile')).toThrow(
      new PlanError('compose.yaml: service api: build context .. is outside the repository'),
    );

    const absolute = repo({ 'compose.yaml': `services:\n  api:\n    build:\n      context: ${outside}\n` });
    expect(() => planImages(absolute, 'Dockerfile')).toThrow(/outside the repository/);

    const linked = repo({ 'compose.yaml': 'services:\n  api:\n    build: ./link\n' });
    symlinkSync(outside, join(linked, 'link'));
    expect(() => planImages(linked, 'Dockerfile')).toThrow(/build context \.\/link is outside the repository/);

    const file = repo({
      'compose.yaml': 'services:\n  api:\n    build:\n      context: .\n      dockerfile: ../x/Dockerfile\n',
    });
    expect(() => planImages(file, 'Dockerfile')).toThrow(/Dockerfile \.\.\/x\/Dockerfile is outside the repository/);

    expect(() => planImages(repo({}), '../Dockerfile')).toThrow(
      /Dockerfile \.\.\/Dockerfile is outside the repository/,
    );
  });

  it('refuses a Compose file that is a symbolic link out of the repository (to /etc, the deploy key…), or a broken one', () => {
    // A well-formed Compose file outside: followed, it would plan (and show) what is not the repository's.
    const outside = repo({ 'compose.yaml': 'services:\n  api:\n    build: .\n', Dockerfile: '' });
    const linked = repo({ Dockerfile: '' });
    symlinkSync(join(outside, 'compose.yaml'), join(linked, 'compose.yaml'));
    expect(() => planBuild(linked, 'Dockerfile')).toThrow(
      new PlanError('Compose file compose.yaml is outside the repository'),
    );

    const etc = repo({ Dockerfile: '' });
    symlinkSync('/etc/passwd', join(etc, 'docker-compose.yml'));
    expect(() => planBuild(etc, 'Dockerfile')).toThrow(
      new PlanError('Compose file docker-compose.yml is outside the repository'),
    );

    // Through a linked folder on the way: the real path counts.
    const viaFolder = repo({ Dockerfile: '' });
    symlinkSync(outside, join(viaFolder, 'conf'));
    symlinkSync('conf/compose.yaml', join(viaFolder, 'compose.yml'));
    expect(() => planBuild(viaFolder, 'Dockerfile')).toThrow(/^Compose file compose\.yml is outside the repository$/);

    // A link to nowhere (here: a key file that is not there) is no Compose file to read.
    const dangling = repo({ Dockerfile: '' });
    symlinkSync('/tmp/slipway-key.gone/deploy_key', join(dangling, 'compose.yaml'));
    expect(() => planBuild(dangling, 'Dockerfile')).toThrow(
      new PlanError('Compose file compose.yaml is a symbolic link to nothing in the repository'),
    );

    const folder = repo({ 'compose.yaml/x': '', Dockerfile: '' });
    expect(() => planBuild(folder, 'Dockerfile')).toThrow(new PlanError('Compose file compose.yaml is not a file'));

    // A link that stays inside the repository is fine.
    const inside = repo({ 'deploy/compose.yaml': 'services:\n  api:\n    build: .\n', Dockerfile: '' });
    symlinkSync('deploy/compose.yaml', join(inside, 'compose.yaml'));
    expect(planBuild(inside, 'Dockerfile')).toEqual({
      source: 'compose',
      composeFile: 'compose.yaml',
      images: [{ service: 'api', context: '.', dockerfile: 'Dockerfile', args: {} }],
    });
  });

  it('uses the Dockerfile when there is no Compose file, or none of its services builds', () => {
    expect(planBuild(repo({ 'docker/Dockerfile.app': '' }), 'docker/Dockerfile.app')).toEqual({
      source: 'dockerfile',
      images: [{ service: 'app', context: '.', dockerfile: 'docker/Dockerfile.app', args: {} }],
    });
    const devOnly = repo({ 'docker-compose.yml': 'services:\n  db:\n    image: postgres\n', Dockerfile: '' });
    expect(planBuild(devOnly, 'Dockerfile').source).toBe('dockerfile');
  });

  it('says clearly when there is nothing to build or a named file is missing', () => {
    expect(() => planImages(repo({ 'README.md': '' }), 'Dockerfile')).toThrow(
      /^no Dockerfile in the repository, and no Compose file \(compose\.yaml, compose\.yml, docker-compose\.yml, docker-compose\.yaml\): nothing to build$/,
    );
    expect(() => planImages(repo({ 'compose.yaml': 'services:\n  db:\n    image: postgres\n' }), 'Dockerfile')).toThrow(
      'compose.yaml has no service with a build: section, and there is no Dockerfile',
    );
    expect(() => planImages(repo({ 'compose.yaml': 'services:\n  api:\n    build: ./api\n' }), 'Dockerfile')).toThrow(
      'compose.yaml: service api: build context ./api is not a folder in the repository',
    );
    expect(() =>
      planImages(repo({ 'compose.yaml': 'services:\n  api:\n    build: ./api\n', 'api/main.go': '' }), 'Dockerfile'),
    ).toThrow('compose.yaml: service api: no Dockerfile Dockerfile in build context ./api');
  });

  it('refuses what it cannot build faithfully: interpolation, remote contexts, inline Dockerfiles, odd names', () => {
    const plan = (compose: string) => () => planImages(repo({ 'compose.yaml': compose, Dockerfile: '' }), 'Dockerfile');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose's interpolation syntax
    expect(plan('services:\n  api:\n    build: ${API_DIR}\n')).toThrow(/interpolation/);
    expect(plan('services:\n  api:\n    build:\n      context: .\n      args:\n        X: $HOME\n')).toThrow(
      /interpolation/,
    );
    expect(plan('services:\n  api:\n    build: https://github.com/x/y.git\n')).toThrow(/remote build contexts/);
    expect(plan('services:\n  api:\n    build:\n      dockerfile_inline: FROM scratch\n')).toThrow(/dockerfile_inline/);
    expect(plan('services:\n  "bad name":\n    build: .\n')).toThrow(/service names/);
    expect(plan('services:\n  api:\n    build:\n      target: "a b"\n')).toThrow(/not a stage name/);
    expect(plan('services: [api]\n')).toThrow(/services must be a mapping/);
    expect(plan('services:\n  api: {build: .\n')).toThrow(/not valid YAML/);
    // `$$` is Compose's literal dollar sign.
    expect(
      planImages(
        repo({ 'compose.yaml': 'services:\n  api:\n    build:\n      args:\n        P: a$$b\n', Dockerfile: '' }),
        'Dockerfile',
      )[0]?.args,
    ).toEqual({ P: 'a$b' });
  });

  it('follows YAML anchors and merge keys', () => {
    const root = repo({
      'compose.yaml': `
x-build: &build
  context: .
  args:
    SHARED: yes-really
services:
  a:
    build:
      <<: *build
      target: a
`,
      Dockerfile: '',
    });
    expect(planImages(root, 'Dockerfile')).toEqual([
      { service: 'a', context: '.', dockerfile: 'Dockerfile', args: { SHARED: 'yes-really' }, target: 'a' },
    ]);
  });

  it('encodes the plan NUL-separated for the buildspec', () => {
    expect(
      nulRecords({
        source: 'compose',
        images: [
          { service: 'api', context: 'api', dockerfile: 'api/D', args: { A: '1', B: 'x y' }, target: 'prod' },
          { service: 'web', context: 'web', dockerfile: 'web/Dockerfile', args: {} },
        ],
      }).split('\0'),
    ).toEqual([
      'compose',
      '2',
      'api',
      'api',
      'api/D',
      'prod',
      '2',
      'A=1',
      'B=x y',
      'web',
      'web',
      'web/Dockerfile',
      '',
      '0',
      '',
    ]);
  });
});
