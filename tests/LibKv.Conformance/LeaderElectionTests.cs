using LibKv.Coordination;
using Xunit;

namespace LibKv.Conformance;

/// <summary>LeaderElection: one leader at a time, terms that grow, an observable leader name.</summary>
public abstract class LeaderElectionTests(IKvFixture fixture) : KvTestBase(fixture)
{
    [Fact]
    public async Task One_leader_at_a_time_and_the_next_takes_over_on_resign_with_a_larger_term()
    {
        var clients = await ClientsAsync(3);
        await using var a = new LeaderElection(clients[0], "elections/e1", "a", Fixture.Ttl);
        await using var b = new LeaderElection(clients[1], "elections/e1", "b", Fixture.Ttl);
        var leaders = new List<string?>();
        await using var observer = new LeaderElection(clients[2], "elections/e1", "observer", Fixture.Ttl);
        using var sub = observer.ObserveLeader().Subscribe(l => { lock (leaders) { leaders.Add(l); } });

        var aLeads = await Within(a.CampaignAsync().AsTask(), "a to lead");
        Assert.True(a.IsLeader);
        var aTerm = a.Term;
        Assert.True(aTerm > 0);
        await Eventually(() => Task.FromResult(Last(leaders) == "a"), "the observer to see a");

        var bCampaign = b.CampaignAsync().AsTask();
        await Task.Delay(300);
        Assert.False(bCampaign.IsCompleted);
        Assert.False(b.IsLeader);
        Assert.Equal(0UL, b.Term);

        await a.ResignAsync();
        Assert.True(aLeads.IsCancellationRequested);
        Assert.False(a.IsLeader);
        var bLeads = await Within(bCampaign, "b to lead after a resigned");
        Assert.True(b.Term > aTerm);
        await Eventually(() => Task.FromResult(Last(leaders) == "b"), "the observer to see b");

        await b.ResignAsync();
        Assert.True(bLeads.IsCancellationRequested);
        await Eventually(() => Task.FromResult(Last(leaders) is null), "the observer to see nobody leading");
    }

    [Fact]
    public async Task A_leader_whose_session_is_lost_is_told_and_another_leads()
    {
        var clients = await ClientsAsync(2);
        await using var a = new LeaderElection(clients[0], "elections/e2", "a", Fixture.Ttl);
        await using var b = new LeaderElection(clients[1], "elections/e2", "b", Fixture.Ttl);
        var aLeads = await Within(a.CampaignAsync().AsTask(), "a to lead");
        var bCampaign = b.CampaignAsync().AsTask();
        await Fixture.ExpireSessionAsync(clients[0]);
        await Eventually(() => Task.FromResult(aLeads.IsCancellationRequested), "a to be told it lost the leadership");
        Assert.False(a.IsLeader);
        await Within(bCampaign, "b to lead after a's session was lost");
        await Eventually(async () => await b.ObserveLeader().FirstAsyncTask() == "b", "b to be the observed leader");
    }

    private static string? Last(List<string?> seen)
    {
        lock (seen)
        {
            return seen.Count == 0 ? "<none yet>" : seen[^1];
        }
    }
}

internal static class ObservableTasks
{
    public static Task<T> FirstAsyncTask<T>(this IObservable<T> source)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        IDisposable? sub = null;
        sub = source.Subscribe(v => { done.TrySetResult(v); sub?.Dispose(); }, e => done.TrySetException(e), () => done.TrySetCanceled());
        return done.Task;
    }
}
