/**
 * The domain's ports, one module per port (functions/domain/ports/): what the domain asks of the
 * world, with one adapter per world under functions/adapters/. Import from here.
 */

export type * from './builder';
export type * from './clock';
export type * from './deployer';
export type * from './gitlab';
export type * from './notifier';
export type * from './platform';
export type * from './store';
export type * from './vault';
export type * from './workflow';
