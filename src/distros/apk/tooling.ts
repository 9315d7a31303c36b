// Which image supplies apk for Alpine images that have none (an apk database but no
// /sbin/apk): Alpine of the same release, which runs `apk --root /target` against them.
//
//   alpine 3.20.3   docker.io/library/alpine:3.20
import { majorMinor, type ToolingRule } from '../../engine/tooling.js';

export const apkTooling: ToolingRule = ({ type, version }) => (type === 'alpine' ? `docker.io/library/alpine:${majorMinor('alpine', version)}` : null);
