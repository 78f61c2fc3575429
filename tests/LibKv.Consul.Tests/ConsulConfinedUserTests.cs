using System.Net.Http.Json;
using LibKv.Conformance;
using Xunit;

namespace LibKv.Consul.Tests;

/// <summary>One dev agent with ACLs on and default deny, shared by the confined-user tests of this assembly.</summary>
public static class ConsulAclAgent
{
    private static readonly Lazy<Task<ConsulServer>> s_server = new(() => ConsulServer.StartAsync(dev: true, $$"""
        acl {
          enabled = true
          default_policy = "deny"
          tokens {
            master = "{{Master}}"
          }
        }
        """));

    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>The agent's management token.</summary>
    public static string Master { get; } = Guid.NewGuid().ToString();

    public static Task<ConsulServer> Server => s_server.Value;

    /// <summary>The rules of a user confined to <paramref name="root"/>: its keys, and sessions when <paramref name="sessions"/>.</summary>
    public static string ConfinedRules(string root, bool sessions = true) =>
        $$"""
        key_prefix "{{root}}/" { policy = "write" }
        key "{{root}}" { policy = "write" }
        """ + (sessions ? "\nsession_prefix \"\" { policy = \"write\" }\n" : "\n");

    /// <summary>Creates a policy with <paramref name="rules"/> and a token bound to it; returns the token's secret.</summary>
    public static async Task<string> TokenAsync(string rules)
    {
        var server = await Server;
        var name = "p-" + Guid.NewGuid().ToString("N");
        await SendAsync(server, "v1/acl/policy", new Dictionary<string, object> { ["Name"] = name, ["Rules"] = rules });
        var token = await SendAsync(server, "v1/acl/token", new Dictionary<string, object> { ["Policies"] = new[] { new Dictionary<string, string> { ["Name"] = name } } });
        return token.GetProperty("SecretID").GetString()!;
    }

    private static async Task<System.Text.Json.JsonElement> SendAsync(ConsulServer server, string path, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, $"http://{server.Endpoint}/{path}") { Content = JsonContent.Create(body) };
        request.Headers.Add("X-Consul-Token", Master);
        using var response = await s_http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {text}");
        return System.Text.Json.JsonDocument.Parse(text).RootElement.Clone();
    }
}

/// <summary>
/// Clients of a fresh Root whose token may touch only that Root (key_prefix "root/" and key "root" write) and create
/// sessions (session_prefix "" write): the conformance behaviours must all work for such a user.
/// </summary>
public sealed class ConsulConfinedFixture : IKvFixture
{
    public string Backend => "consul";

    public bool OrdersLockWaiters => false;

    /// <summary>These classes test rights, not timing: a 2 s TTL keeps them clear of CPU stalls on a loaded machine.</summary>
    public TimeSpan Ttl => TimeSpan.FromSeconds(2);

    public async Task<IStore[]> CreateClientsAsync(int count, Action<StoreOptions>? configure = null, CancellationToken cancellationToken = default)
    {
        var server = await ConsulAclAgent.Server;
        var root = FixtureClients.FreshRoot();
        var token = await ConsulAclAgent.TokenAsync(ConsulAclAgent.ConfinedRules(root));
        return await FixtureClients.CreateAsync(count, () => new StoreOptions { Backend = "consul", Endpoints = { server.Endpoint }, Root = root, Token = token }, configure, cancellationToken);
    }

    public async Task ExpireSessionAsync(IStore client)
    {
        var server = await ConsulAclAgent.Server;
        await server.DestroySessionsAsync(((ConsulStore)client).SessionIds(), ConsulAclAgent.Master);
    }
}

public sealed class ConsulConfinedBasicOpsTests(ConsulConfinedFixture f) : BasicOpsTests(f), IClassFixture<ConsulConfinedFixture>;

public sealed class ConsulConfinedAtomicTests(ConsulConfinedFixture f) : AtomicTests(f), IClassFixture<ConsulConfinedFixture>;

public sealed class ConsulConfinedTtlTests(ConsulConfinedFixture f) : TtlTests(f), IClassFixture<ConsulConfinedFixture>;

public sealed class ConsulConfinedWatchTests(ConsulConfinedFixture f) : WatchTests(f), IClassFixture<ConsulConfinedFixture>;

public sealed class ConsulConfinedLockTests(ConsulConfinedFixture f) : LockTests(f), IClassFixture<ConsulConfinedFixture>;

public sealed class ConsulConfinedFencedWriteTests(ConsulConfinedFixture f) : FencedWriteTests(f), IClassFixture<ConsulConfinedFixture>;

/// <summary>Issue 9: a user confined to its Root is refused outside it, and told when it lacks session rights.</summary>
public sealed class ConsulConfinedUserTests
{
    [Fact]
    public async Task A_confined_user_outside_its_root_is_Unauthorized_and_nothing_changes()
    {
        var server = await ConsulAclAgent.Server;
        var mine = "c/" + Guid.NewGuid().ToString("N");
        var theirs = "c/" + Guid.NewGuid().ToString("N");
        var token = await ConsulAclAgent.TokenAsync(ConsulAclAgent.ConfinedRules(mine));
        await using var admin = await StoreFactory.Default.CreateAsync(new StoreOptions { Backend = "consul", Endpoints = { server.Endpoint }, Root = theirs, Token = ConsulAclAgent.Master });
        await admin.PutAsync("k", "theirs"u8.ToArray());
        var before = await admin.GetAsync("k");

        // The connect check stays inside Root, so creating the store works; every call outside it is refused.
        await using var outside = await StoreFactory.Default.CreateAsync(new StoreOptions { Backend = "consul", Endpoints = { server.Endpoint }, Root = theirs, Token = token });
        await Refused(() => outside.PutAsync("k", "mine"u8.ToArray()).AsTask());
        await Refused(() => outside.PutAsync("new", "mine"u8.ToArray()).AsTask());
        await Refused(() => outside.PutAsync("ttl", "mine"u8.ToArray(), new WriteOptions { Ttl = TimeSpan.FromSeconds(5) }).AsTask());
        await Refused(() => outside.AtomicPutAsync("k", "mine"u8.ToArray(), before).AsTask());
        await Refused(() => outside.GetAsync("k").AsTask());
        await Refused(() => outside.DeleteAsync("k").AsTask());
        await Refused(() => outside.DeleteTreeAsync("k").AsTask());
        await using (var locker = outside.NewLock("lock"))
        {
            await Refused(() => locker.LockAsync().AsTask());
        }

        var after = await admin.GetAsync("k");
        Assert.Equal("theirs"u8.ToArray(), after.Value);
        Assert.Equal(before.LastIndex, after.LastIndex);
        Assert.Equal(["k"], (await admin.ListAsync("")).Select(p => p.Key));

        // The same token inside its own Root works.
        await using var inside = await StoreFactory.Default.CreateAsync(new StoreOptions { Backend = "consul", Endpoints = { server.Endpoint }, Root = mine, Token = token });
        await inside.PutAsync("k", "mine"u8.ToArray());
        Assert.Equal("mine"u8.ToArray(), (await inside.GetAsync("k")).Value);
    }

    [Fact]
    public async Task Without_session_rights_plain_writes_work_and_TTL_keep_alive_and_locks_say_session_rights_are_needed()
    {
        var server = await ConsulAclAgent.Server;
        var root = "c/" + Guid.NewGuid().ToString("N");
        var token = await ConsulAclAgent.TokenAsync(ConsulAclAgent.ConfinedRules(root, sessions: false));
        await using var store = await StoreFactory.Default.CreateAsync(new StoreOptions { Backend = "consul", Endpoints = { server.Endpoint }, Root = root, Token = token });
        await store.PutAsync("k", "v"u8.ToArray());
        Assert.Equal("v"u8.ToArray(), (await store.GetAsync("k")).Value);

        foreach (var options in new[] { new WriteOptions { Ttl = TimeSpan.FromSeconds(5) }, new WriteOptions { Ttl = TimeSpan.FromSeconds(5), KeepAlive = true } })
        {
            var e = await Refused(() => store.PutAsync("ttl", "v"u8.ToArray(), options).AsTask());
            Assert.Contains("session", e.Message, StringComparison.Ordinal);
            Assert.Contains("session_prefix", e.Message, StringComparison.Ordinal);
        }

        await using var locker = store.NewLock("lock");
        var l = await Refused(() => locker.LockAsync().AsTask());
        Assert.Contains("session_prefix", l.Message, StringComparison.Ordinal);
        Assert.False(await store.ExistsAsync("ttl"));
        Assert.False(await store.ExistsAsync("lock"));
    }

    private static async Task<KvException> Refused(Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<KvException>(call);
        Assert.True(e.Code == KvErrorCode.Unauthorized, e.ToString());
        return e;
    }
}
