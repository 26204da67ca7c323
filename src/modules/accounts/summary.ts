import type { AccountEntity } from './entities';

/**
 * An account as someone else sees it (`AccountSummary`). Whether its email address shows is
 * decided by the service that hands the summary out (owner, administrators, support), never by
 * the resolver.
 */
export interface AccountSummaryModel {
  account: AccountEntity;
  showEmail: boolean;
}

export function summaryOf(account: AccountEntity, showEmail: boolean): AccountSummaryModel {
  return { account, showEmail };
}
