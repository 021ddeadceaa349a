import { z } from 'zod';
import { Secret } from './secret.js';

/*
 * The field types the environment schema is built from. A leaf module (zod and Secret
 * only), so provider settings slices can use them without importing the config itself.
 */

export const emptyAsUndefined = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);
export const optionalString = z.preprocess(emptyAsUndefined, z.string().optional());
export const optionalUrl = z.preprocess(emptyAsUndefined, z.url().optional());
export const optionalSecret = z.preprocess(
  emptyAsUndefined,
  z.string().optional().transform((value) => (value === undefined ? undefined : new Secret(value))),
);
export const integer = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(emptyAsUndefined, z.coerce.number().int().min(min).max(max).default(fallback));

export const booleanFlag = (fallback: boolean) =>
  z.preprocess(
    emptyAsUndefined,
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'])
      .optional()
      .transform((value) => (value === undefined ? fallback : ['true', '1', 'yes'].includes(value))),
  );
