import { it } from 'vitest';
import { sweep } from './sweep.js';

it('keeps every invariant over seeds 1001..2000 of crashes, stalls, lost traffic, outages and fast-path loss', () => sweep(1001, 1000));
