import { createSlipwayApp } from './slipway-app';

// `cdk synth` / `cdk deploy` run this file (cdk.json); the App synthesizes itself on exit.
createSlipwayApp();
