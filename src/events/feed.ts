import { IdemError } from '../errors/registry.js';
import { eventView, type EventView, type StoredEvent } from './model.js';
import type { EventStore } from './store.js';

/**
 * The merchant's event feed (docs/events.md, "Feed and stream"): positioned events, oldest
 * first. A cursor is an event id; it stands for that event's position, so paging never skips
 * an event committed later by a slower transaction (positions are given after commit).
 */
export class EventFeed {
  constructor(private readonly store: Pick<EventStore, 'listFeed' | 'findEvent'>) {}

  async list(
    merchantId: string,
    q: { startingAfter?: string | undefined; types?: readonly string[] | undefined; limit: number },
  ): Promise<{ object: 'list'; data: EventView[]; has_more: boolean }> {
    const after = q.startingAfter === undefined ? 0 : await this.positionOf(merchantId, q.startingAfter);
    const rows = await this.store.listFeed(merchantId, after, q.limit + 1, q.types);
    return { object: 'list', data: rows.slice(0, q.limit).map(eventView), has_more: rows.length > q.limit };
  }

  async get(merchantId: string, id: string): Promise<EventView> {
    const e = await this.store.findEvent(merchantId, id);
    if (!e) throw notFound(id);
    return eventView(e);
  }

  /** The feed position an event id stands for; its own, or (not positioned yet) none before it. */
  async positionOf(merchantId: string, id: string): Promise<number> {
    const e = await this.store.findEvent(merchantId, id);
    if (!e) throw notFound(id);
    if (e.position === null) throw new IdemError('EVENT_NOT_FOUND', `event ${id} is not in the feed yet; retry shortly`, { extensions: { event_id: id } });
    return e.position;
  }

  /** Positioned events after `afterPosition`, for the stream. */
  page(merchantId: string, afterPosition: number, types: readonly string[] | undefined, limit: number): Promise<StoredEvent[]> {
    return this.store.listFeed(merchantId, afterPosition, limit, types);
  }
}

function notFound(id: string): IdemError {
  return new IdemError('EVENT_NOT_FOUND', `no event ${id}`, { extensions: { event_id: id } });
}
