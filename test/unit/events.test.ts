import { channels, Events, type EventBus } from '../../src/platform/events';

class RecordingBus implements EventBus {
  readonly sent: Array<[string, string]> = [];
  publish(channel: string, message: string): void {
    this.sent.push([channel, message]);
  }
  subscribe(): () => void {
    return () => undefined;
  }
  async close(): Promise<void> {}
}

describe('R7.2 events are coalesced per pool', () => {
  it('turns a storm of changes to one pool into one message at once and one trailing message', async () => {
    const bus = new RecordingBus();
    const events = new Events(bus, 100);
    const heard: string[] = [];
    events.onPoolChanged((pool) => heard.push(pool));
    for (let i = 0; i < 500; i++) events.poolChanged('pool-a');
    events.poolChanged('pool-b');
    expect(bus.sent).toEqual([
      [channels.pool('pool-a'), 'changed'],
      [channels.pool('pool-b'), 'changed'],
    ]);
    await new Promise((r) => setTimeout(r, 150));
    expect(bus.sent.filter(([c]) => c === channels.pool('pool-a'))).toHaveLength(2);
    expect(heard.filter((p) => p === 'pool-a')).toHaveLength(2);
    await events.close();
  });

  it('tells every ended lease on its own channel and each pool once', () => {
    const bus = new RecordingBus();
    const events = new Events(bus, 100);
    events.leasesEnded([
      { id: 'l1', poolAccountId: 'p' },
      { id: 'l2', poolAccountId: 'p' },
    ]);
    expect(bus.sent).toEqual([
      [channels.lease('l1'), 'ended'],
      [channels.lease('l2'), 'ended'],
      [channels.pool('p'), 'changed'],
    ]);
    void events.close();
  });
});
