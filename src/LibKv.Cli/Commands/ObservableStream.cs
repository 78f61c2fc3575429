using System.Threading.Channels;

namespace LibKv.Cli.Commands;

/// <summary>Reads an observable as an async stream: every state in order, its error rethrown, completion ending the loop.</summary>
internal static class ObservableStream
{
    public static async IAsyncEnumerable<T> ReadAsync<T>(IObservable<T> source, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateUnbounded<T>(new UnboundedChannelOptions { SingleReader = true });
        using var subscription = source.Subscribe(new ChannelObserver<T>(channel.Writer));
        await foreach (var item in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return item;
        }
    }

    private sealed class ChannelObserver<T>(ChannelWriter<T> writer) : IObserver<T>
    {
        public void OnNext(T value) => writer.TryWrite(value);

        public void OnError(Exception error) => writer.TryComplete(error);

        public void OnCompleted() => writer.TryComplete();
    }
}
