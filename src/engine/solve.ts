// Small helpers for the engine's "build a state, look inside it" round-trips.
import type { Platform, State } from '../llb/index.js';
import { BridgeFileNotFound, type Bridge, type SolvedRef } from './bridge.js';

export function solveState(bridge: Bridge, state: State, platform: Platform, evaluate = false): Promise<SolvedRef> {
  return bridge.solve(state.marshal({ platform }), { evaluate });
}

export async function readText(bridge: Bridge, ref: SolvedRef, path: string): Promise<string> {
  return (await bridge.readFile(ref, path)).toString('utf8');
}

export async function readTextIfExists(bridge: Bridge, ref: SolvedRef, path: string): Promise<string | null> {
  try {
    return await readText(bridge, ref, path);
  } catch (e) {
    if (e instanceof BridgeFileNotFound) return null;
    throw e;
  }
}

export async function fileExists(bridge: Bridge, ref: SolvedRef, dir: string, name: string): Promise<boolean> {
  try {
    const entries = await bridge.readDir(ref, dir, name);
    return entries.some((e) => e.path === name);
  } catch (e) {
    if (e instanceof BridgeFileNotFound) return false;
    throw e;
  }
}
