using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Primitives;
using Xunit;

namespace LibKv.Conformance;

/// <summary>The configuration provider on a backend: keys under a prefix become configuration and follow every change.</summary>
public abstract class ConfigurationTests(IKvFixture fixture) : KvTestBase(fixture)
{
    [Fact]
    public async Task Keys_under_the_prefix_become_configuration_and_follow_adds_changes_and_deletes()
    {
        var clients = await ClientsAsync(2);
        var admin = clients[0];
        await admin.PutAsync("cfg/app/Logging/Level", Bytes("Debug"));
        await admin.PutAsync("cfg/app/Name", Bytes("orders"));
        await admin.PutAsync("cfg/other/Name", Bytes("not mine"));

        // The provider reads through a store of this backend (the fixture's second client).
        var factory = new StoreFactory().Register("fixture", (_, _) => ValueTask.FromResult(clients[1]));
        var configuration = new ConfigurationBuilder()
            .AddKvStore(s => { s.Store = new StoreOptions { Backend = "fixture" }; s.Factory = factory; s.Prefix = "cfg/app"; })
            .Build();
        try
        {
            Assert.Equal("Debug", configuration["Logging:Level"]);
            Assert.Equal("orders", configuration["Name"]);
            Assert.Null(configuration["other:Name"]);

            var reloads = 0;
            using var onChange = ChangeToken.OnChange(configuration.GetReloadToken, () => Interlocked.Increment(ref reloads));
            await admin.PutAsync("cfg/app/Logging/Level", Bytes("Warning"));
            await Eventually(() => Task.FromResult(configuration["Logging:Level"] == "Warning"), "a changed key in configuration");
            await admin.PutAsync("cfg/app/Feature/On", Bytes("true"));
            await Eventually(() => Task.FromResult(configuration["Feature:On"] == "true"), "an added key in configuration");
            await admin.DeleteAsync("cfg/app/Name");
            await Eventually(() => Task.FromResult(configuration["Name"] is null), "a deleted key gone from configuration");
            Assert.True(Volatile.Read(ref reloads) >= 3);
        }
        finally
        {
            (configuration as IDisposable)?.Dispose();
        }
    }
}
