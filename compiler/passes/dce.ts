import { deadCodeEliminate } from '../ir/graph.ts';
import type { Pass } from './pass.ts';

export const dce: Pass = {
  name: 'dce',
  doc: 'drop values that no output or update needs',
  run: (m) => deadCodeEliminate(m),
};
