#!/usr/bin/env node
// The flexc command: runs the TypeScript sources through tsx's loader.
import { register } from 'tsx/esm/api';

register();
await import('../compiler/cli/main.ts');
