import type { EntityManager } from 'typeorm';
import type { AuditActionName } from './entities';

/**
 * One entry of the audit log (R8.2): who did what, when, on whom. `organizationId` null: it concerns
 * an account, not an organization (the support desk). The target is kept by ID and by user ID, so
 * that the entry still says whom once the account is erased (R8.5).
 */
export async function writeAudit(
  tx: EntityManager,
  entry: {
    organizationId: string | null;
    /** Null for the web shop (R2.11), which is no account. */
    actorId: string | null;
    action: AuditActionName;
    target: { id: string; userId: string | null } | null;
    details?: Record<string, unknown>;
    at: Date;
  },
): Promise<void> {
  await tx.query(
    `INSERT INTO audit_log (organization_id, actor_account_id, action, target_account_id, target_user_id, details, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [
      entry.organizationId,
      entry.actorId,
      entry.action,
      entry.target?.id ?? null,
      entry.target?.userId ?? null,
      entry.details ? JSON.stringify(entry.details) : null,
      entry.at,
    ],
  );
}
