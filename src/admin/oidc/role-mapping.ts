import type { AdminRole } from '../../store/schema.js';

/** Which values of which claim make an admin or an operator; anyone else signs in as a viewer. */
export interface RoleMapping {
  claim: string;
  adminGroups: readonly string[];
  operatorGroups: readonly string[];
}

/**
 * The values of a claim as strings: an array (`groups: ["a", "b"]`) or a space- or
 * comma-separated string (`roles: "a b"`). A claim named with dots (`realm_access.roles`) is
 * looked up as a path when no claim has that exact name (Auth0's namespaced claims are URLs
 * with dots, so the exact name wins).
 */
export function claimValues(claims: Record<string, unknown>, name: string): string[] {
  let value: unknown = Object.hasOwn(claims, name) ? claims[name] : undefined;
  if (value === undefined && name.includes('.')) {
    value = name.split('.').reduce<unknown>((node, key) => (isRecord(node) && Object.hasOwn(node, key) ? node[key] : undefined), claims);
  }
  if (typeof value === 'string') return value.split(/[\s,]+/).filter(Boolean);
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string');
  return [];
}

/** The highest role any of the person's groups maps to (exact, case-sensitive match), else `viewer`. */
export function roleFromClaims(claims: Record<string, unknown>, mapping: RoleMapping): AdminRole {
  const groups = new Set(claimValues(claims, mapping.claim));
  if (mapping.adminGroups.some((group) => groups.has(group))) return 'admin';
  if (mapping.operatorGroups.some((group) => groups.has(group))) return 'operator';
  return 'viewer';
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
