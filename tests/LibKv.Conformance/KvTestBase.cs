using System.Text;
using Xunit;

namespace LibKv.Conformance;

/// <summary>Base of every conformance class: creates clients on the fixture and disposes them after each test.</summary>
public abstract class KvTestBase : IAsyncLifetime
{
    /// <summary>How long any asynchronous outcome may take before a test fails; generous on purpose.</summary>
    protected static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private readonly List<IStore> _clients = new();

    protected KvTestBase(IKvFixture fixture) => Fixture = fixture;

    protected IKvFixture Fixture { get; }

    protected static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    protected static string Text(byte[] value) => Encoding.UTF8.GetString(value);

    /// <summary>One client of a fresh store.</summary>
    protected async Task<IStore> StoreAsync(Action<StoreOptions>? configure = null) => (await ClientsAsync(1, configure))[0];

    /// <summary><paramref name="count"/> clients of one fresh store.</summary>
    protected async Task<IStore[]> ClientsAsync(int count, Action<StoreOptions>? configure = null)
    {
        using var cts = new CancellationTokenSource(Deadline);
        var clients = await Fixture.CreateClientsAsync(count, configure, cts.Token);
        lock (_clients)
        {
            _clients.AddRange(clients);
        }

        return clients;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or <see cref="Deadline"/> passes.</summary>
    protected static async Task Eventually(Func<Task<bool>> condition, string what, TimeSpan? deadline = null)
    {
        var until = DateTime.UtcNow + (deadline ?? Deadline);
        while (true)
        {
            if (await condition())
            {
                return;
            }

            if (DateTime.UtcNow > until)
            {
                Assert.Fail($"Timed out waiting for: {what}");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Waits for a task with <see cref="Deadline"/>, failing the test when it does not finish.</summary>
    protected static async Task<T> Within<T>(Task<T> task, string what)
    {
        var finished = await Task.WhenAny(task, Task.Delay(Deadline));
        if (finished != task)
        {
            Assert.Fail($"Timed out waiting for: {what}");
        }

        return await task;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        IStore[] clients;
        lock (_clients)
        {
            clients = _clients.ToArray();
            _clients.Clear();
        }

        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }
    }
}
